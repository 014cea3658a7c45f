"""Passwords never shown: the one form in which a database URL is printed or logged.

Every message, log line and page that names a database goes through
:func:`redact_url`. It lives apart from :mod:`taskloom.journal.urls` (which
opens journals, and so imports every backend) so that the backends can use
it too without an import cycle; ``taskloom.journal.urls.redact_url`` stays
the documented name.
"""

from __future__ import annotations

import re

_QUERY_SECRET = re.compile(r"(?i)((?:[?&;])(?:ssl)?password=)[^&;#]*")
_CONNINFO_SECRET = re.compile(r"(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def redact_url(url: str | None) -> str:
    """``url`` with any password replaced by ``***``: the only form shown or logged.

    Covers ``scheme://user:password@host``, ``?password=`` query options and
    libpq ``key=value`` strings. Never raises, so it is safe in error paths.
    """
    if url is None:
        return "(default url)"
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return _CONNINFO_SECRET.sub(r"\1***", text)
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    location, tail = rest[:end], rest[end:]
    if "@" in location:
        userinfo, _, host = location.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        if colon:
            location = f"{user}:***@{host}"
    tail = _QUERY_SECRET.sub(r"\1***", tail)
    return f"{scheme}://{location}{tail}"
