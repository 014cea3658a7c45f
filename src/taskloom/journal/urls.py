"""Turn a database URL into a journal.

Accepted forms::

    sqlite:///absolute/path.db     sqlite://relative/path.db
    sqlite://:memory:              memory://
    ...?synchronous=FULL           (SQLite only)
    postgresql://user:pw@host:5432/db[?schema=NAME]   (also postgres://;
                                   needs the ``taskloom[postgres]`` extra)

No URL means ``$TASKLOOM_DATABASE_URL`` or ``./taskloom.db``.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs

from taskloom.journal.base import Journal
from taskloom.journal.redact import redact_url as redact_url

ENV_VAR = "TASKLOOM_DATABASE_URL"
DEFAULT_URL = "sqlite://taskloom.db"
SCHEMES = ("sqlite", "memory", "postgresql", "postgres")


def resolve_url(url: str | None) -> str:
    """The URL to use when the caller gave ``url`` (possibly ``None``)."""
    if url is None:
        return os.environ.get(ENV_VAR) or DEFAULT_URL
    return url


def sqlite_file(url: str) -> str | None:
    """The absolute file path of a ``sqlite://`` URL; None for other URLs and ``:memory:``."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "sqlite" or not sep:
        return None
    path = rest.partition("?")[0]
    if not path or path == ":memory:":
        return None
    return os.path.realpath(path)


def open_journal(url: str | None = None, *, read_only: bool = False) -> Journal:
    """Open (creating and migrating if needed) the journal a URL names.

    ``read_only``: open an existing journal only to read it (no migration, no
    writes), e.g. for a dashboard whose database user may only read.
    """
    url = resolve_url(url)
    if not isinstance(url, str):
        raise TypeError(f"database url must be a str, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise ValueError(
            f"malformed database url {url!r}: expected SCHEME://..., for example "
            "'sqlite:///var/lib/app/taskloom.db' or 'sqlite://taskloom.db'"
        )
    scheme = scheme.lower()
    if scheme == "sqlite":
        return _open_sqlite(url, rest, read_only)
    if scheme == "memory":
        from taskloom.journal.memory import MemoryJournal

        return MemoryJournal(url)
    if scheme in ("postgresql", "postgres"):
        from taskloom.journal.postgres import PostgresJournal

        return PostgresJournal(url, read_only=read_only)
    raise ValueError(
        f"unknown database url scheme {scheme!r} in {url!r}; use one of "
        + ", ".join(f"{s}://" for s in SCHEMES)
    )


def _open_sqlite(url: str, rest: str, read_only: bool = False) -> Journal:
    from taskloom.journal.sqlite import SQLiteJournal

    path, _, query = rest.partition("?")
    if not path:
        raise ValueError(
            f"malformed database url {url!r}: no file path; use 'sqlite:///abs/path.db', "
            "'sqlite://relative.db' or 'sqlite://:memory:'"
        )
    options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise ValueError(
            f"database url {url!r}: unknown option(s) {', '.join(sorted(unknown))}; "
            "the sqlite journal takes 'synchronous'"
        )
    if path != ":memory:":
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise ValueError(
                f"database url {url!r}: directory {directory!r} does not exist; create it first"
            )
    return SQLiteJournal(
        path, synchronous=options.get("synchronous", "NORMAL"), url=url, read_only=read_only
    )


def is_postgres_url(url: str | None) -> bool:
    """Whether ``url`` (after defaults) names a PostgreSQL journal."""
    scheme, sep, _ = resolve_url(url).partition("://")
    return bool(sep) and scheme.lower() in ("postgresql", "postgres")
