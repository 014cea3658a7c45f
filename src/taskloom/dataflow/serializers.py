"""How file-backed artifact stores and result caches turn values into bytes.

JSON is the default: loading it can never run code, so a file planted in an
artifact or cache directory cannot take over the process that reads it.
Pickle holds any Python object but unpickling runs code chosen by whoever
wrote the file, so it is used only when asked for by name
(``artifact_serializer = "pickle"`` in the settings, ``serializer=
PickleSerializer()``, or a task's ``serializer="pickle"``), and then signed:
the file starts with an HMAC of the pickle under taskloom's pickle key
(:mod:`taskloom.core.signing`, ``$TASKLOOM_PICKLE_KEY``), checked before
anything is unpickled; an unsigned or altered file is refused.

A serializer is any object with ``name``, ``dumps(value) -> bytes`` and
``loads(data) -> value``; pass your own to the stores for other formats.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from taskloom.core import signing

#: How a signed pickle file starts: this, the signature, a newline, the pickle.
SIGNED_PICKLE = b"taskloom-signed-pickle "


class Serializer(Protocol):
    """Turns a value into bytes and back."""

    name: str

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class JSONSerializer:
    """Plain JSON (UTF-8); values must be JSON data (dict, list, str, number, bool, None)."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        try:
            return json.dumps(value, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"a {type(value).__name__} cannot be stored as JSON ({exc}); store JSON data, "
                'or opt in to pickle (artifact_serializer = "pickle" in [tool.taskloom], or '
                "serializer=PickleSerializer()) if only trusted processes write the directory"
            ) from exc

    def loads(self, data: bytes) -> Any:
        return json.loads(data.decode())


class PickleSerializer:
    """Any picklable value, signed; a file whose signature does not hold is refused."""

    name = "pickle"

    def dumps(self, value: Any) -> bytes:
        blob, signature = signing.pickle_bytes(
            value, f"a {type(value).__name__} stored with the pickle serializer"
        )
        return SIGNED_PICKLE + signature.encode() + b"\n" + blob

    def loads(self, data: bytes) -> Any:
        if not data.startswith(SIGNED_PICKLE):
            return signing.load_unsigned(data, "a stored file that is not a signed pickle")
        header, _, blob = data.partition(b"\n")
        signature = header[len(SIGNED_PICKLE) :].decode("ascii", "replace")
        return signing.load_signed(blob, signature, "a stored pickle")


def is_signed_pickle(data: bytes) -> bool:
    """True if ``data`` was written by :class:`PickleSerializer`."""
    return data.startswith(SIGNED_PICKLE)


def serializer_named(name: str) -> Serializer:
    """The serializer a setting names (``"json"`` or ``"pickle"``)."""
    if name == "json":
        return JSONSerializer()
    if name == "pickle":
        return PickleSerializer()
    raise ValueError(f"serializer {name!r}: use 'json' or 'pickle'")


__all__ = [
    "SIGNED_PICKLE",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "is_signed_pickle",
    "serializer_named",
]
