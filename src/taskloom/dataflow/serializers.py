"""How file-backed artifact stores and result caches turn values into bytes.

JSON is the default: loading it can never run code, so a file planted in an
artifact or cache directory cannot take over the process that reads it.
Pickle holds any Python object but unpickling runs code chosen by whoever
wrote the file, so it is used only when asked for by name
(``artifact_serializer = "pickle"`` in the settings, or ``serializer=
PickleSerializer()``), for directories only trusted processes can write.

A serializer is any object with ``name``, ``dumps(value) -> bytes`` and
``loads(data) -> value``; pass your own to the stores for other formats.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Protocol


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
    """Any picklable value. Loading runs code: use only for directories you trust."""

    name = "pickle"

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)


def serializer_named(name: str) -> Serializer:
    """The serializer a setting names (``"json"`` or ``"pickle"``)."""
    if name == "json":
        return JSONSerializer()
    if name == "pickle":
        return PickleSerializer()
    raise ValueError(f"serializer {name!r}: use 'json' or 'pickle'")


__all__ = ["JSONSerializer", "PickleSerializer", "Serializer", "serializer_named"]
