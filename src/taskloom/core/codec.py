"""The value codec: task values to journal text and back, never running code.

Anyone who can write to a journal (a shared PostgreSQL database, a copied
SQLite file) can change what it holds, so turning journal text back into
objects must not run code the text names. The codec records:

* plain JSON (``dict`` with str keys, ``list``, ``str``, ``int``, finite
  ``float``, ``bool``, ``None``) as itself, readable in the journal;
* ``tuple``, ``set``, ``frozenset``, ``bytes``, ``bytearray``, ``datetime``,
  ``date``, ``time``, ``timedelta``, ``Decimal``, ``UUID``, non-finite
  floats and dicts with other keys as small tagged objects
  (``{"__taskloom__": "tuple", "items": [...]}``), nested freely;
* enums, dataclasses, NamedTuples and pydantic models of *known* types
  (:mod:`taskloom.core.known_types`) as their data plus the type's name.
  Decoding rebuilds only known types, so journal text can name no other
  class.

A value with any other part fails the task with :class:`UnencodableValueError`
naming the task, the type and the fix -- unless the task or flow opted in to
pickle, in which case the whole value is pickled and signed
(:mod:`taskloom.core.signing`).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from taskloom.core import known_types
from taskloom.core.known_types import Known, auto_kind, qualified_name
from taskloom.errors import UnencodableValueError, ValueRefusedError

#: Key marking a recorded value that is not plain JSON.
TAG = "__taskloom__"

_compact = json.JSONEncoder(separators=(",", ":"), allow_nan=False)

#: Values of the ``serializer=`` option of ``@task`` and ``@flow``.
SERIALIZERS = ("json", "pickle")


def check_serializer(owner: str, serializer: Any) -> None:
    """Reject a bad ``serializer=`` at decoration time, naming its owner."""
    if serializer not in SERIALIZERS:
        raise ValueError(
            f"{owner}: serializer={serializer!r}; use 'json' (the default: safe, no code runs "
            "when values are read back) or 'pickle' (signed pickles; needs a key)"
        )


# -- encoding -----------------------------------------------------------------


def is_plain_json(value: Any) -> bool:
    """True if ``json.loads(json.dumps(value)) == value`` with the same types."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if item is None or kind is str or kind is bool or kind is int:
            continue
        if kind is float:
            if not math.isfinite(item):
                return False
            continue
        if kind is list:
            stack.extend(item)
            continue
        if kind is dict:
            if TAG in item:
                return False
            for key, sub in item.items():
                if type(key) is not str:
                    return False
                stack.append(sub)
            continue
        return False
    return True


class _Unknown(Exception):
    """A part of the value the codec cannot record (internal)."""

    def __init__(self, cls: type) -> None:
        super().__init__(cls)
        self.cls = cls


def encode(value: Any, what: str, *, allow_pickle: bool = False) -> str:
    """Journal text of ``value``; ``what`` names its producer ("task 'add#0'") in errors.

    ``allow_pickle``: the producer opted in, so a value the codec cannot
    record is pickled and signed instead of refused.
    """
    if is_plain_json(value):
        return _compact.encode(value)
    try:
        return _compact.encode(to_tagged(value))
    except _Unknown as unknown:
        if allow_pickle:
            from taskloom.core import signing

            return _compact.encode(signing.dump_signed(value, what))
        raise UnencodableValueError(_unknown_message(what, value, unknown)) from None


def _unknown_message(what: str, value: Any, unknown: _Unknown) -> str:
    cls = unknown.cls
    name = qualified_name(cls)
    path = _path_to(value, cls, "value")
    if path == "value":
        returned = f"{what} returned a {name}"
    else:
        where = f" at {path}" if path else ""
        returned = f"{what} returned a {type(value).__name__} with a {name}{where}"
    if auto_kind(cls) is not None:
        fix = (
            f"{name} is not a type taskloom knows: annotate it in the task's signature "
            f"(-> {cls.__qualname__}) or call taskloom.register_type({cls.__qualname__})"
        )
    else:
        from taskloom.core.signing import OPT_IN_HINT

        fix = (
            f"register it with taskloom.register_type({cls.__qualname__}, encode=..., "
            f"decode=...), return JSON data instead, or {OPT_IN_HINT}"
        )
    return f"{returned}, which taskloom cannot record safely; {fix}"


def to_tagged(value: Any) -> Any:
    """``value`` as JSON data, its non-JSON parts as tagged objects."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {TAG: "float", "value": repr(value)}
    if kind is list:
        return [to_tagged(item) for item in value]
    if kind is dict:
        if TAG not in value and all(type(key) is str for key in value):
            return {key: to_tagged(item) for key, item in value.items()}
        return {TAG: "dict", "items": [[to_tagged(k), to_tagged(v)] for k, v in value.items()]}
    if kind is tuple or kind is set or kind is frozenset:
        return {TAG: kind.__name__, "items": [to_tagged(item) for item in value]}
    simple = _simple(value, kind)
    if simple is not None:
        return simple
    known = known_types.by_class(kind)
    if known is None:
        raise _Unknown(kind)
    return {TAG: known.kind, "type": known.name, "data": _data_of(known, value)}


def _path_to(value: Any, cls: type, path: str) -> str:
    """Where in ``value`` the first instance of ``cls`` sits (for the error message)."""
    if type(value) is cls:
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _path_to(item, cls, f"{path}[{key!r}]")
            if found:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            found = _path_to(item, cls, f"{path}[{i}]")
            if found:
                return found
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            found = _path_to(getattr(value, f.name), cls, f"{path}.{f.name}")
            if found:
                return found
    return ""


def _simple(value: Any, kind: type) -> dict[str, Any] | None:
    if kind is bytes or kind is bytearray:
        return {TAG: kind.__name__, "b64": base64.b64encode(value).decode("ascii")}
    if kind is datetime:
        zone = getattr(value.tzinfo, "key", None)
        tagged = {TAG: "datetime", "iso": value.isoformat()}
        if isinstance(zone, str):
            tagged["zone"] = zone
        return tagged
    if kind is date or kind is time:
        return {TAG: kind.__name__, "iso": value.isoformat()}
    if kind is timedelta:
        return {TAG: "timedelta", "d": value.days, "s": value.seconds, "us": value.microseconds}
    if kind is Decimal or kind is UUID:
        return {TAG: kind.__name__.lower(), "value": str(value)}
    return None


def _data_of(known: Known, value: Any) -> Any:
    if known.kind == "enum":
        return to_tagged(value.value)
    if known.kind == "dataclass":
        return {f.name: to_tagged(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if known.kind == "namedtuple":
        return [to_tagged(item) for item in value]
    if known.kind == "model":
        return to_tagged(value.model_dump(mode="python"))
    assert known.to_data is not None
    return to_tagged(known.to_data(value))


# -- decoding -----------------------------------------------------------------


def decode(text: str) -> Any:
    """The value recorded by :func:`encode` (a fresh copy each time).

    Raises :class:`ValueRefusedError` for anything that would need code to
    be run to load it (an unsigned or tampered pickle, an unknown type).
    """
    if TAG not in text:
        return json.loads(text)
    return json.loads(text, object_hook=_from_tagged)


def _from_tagged(data: dict[str, Any]) -> Any:
    """Inner objects are already decoded: ``json`` calls this bottom-up."""
    tag = data.get(TAG)
    if tag is None:
        return data
    try:
        return _DECODERS[tag](data)
    except ValueRefusedError:
        raise
    except KeyError:
        if tag not in _DECODERS:
            raise ValueRefusedError(
                f"a recorded value has the unknown kind {tag!r} (written by a newer taskloom?)"
            ) from None
        raise ValueRefusedError(f"a recorded {tag} value is damaged: {data!r:.200}") from None
    except Exception as exc:
        raise ValueRefusedError(f"a recorded {tag} value cannot be rebuilt: {exc}") from None


def _known(data: dict[str, Any]) -> Any:
    name = data["type"]
    known = known_types.by_name(name) if isinstance(name, str) else None
    if known is None or known.kind != data[TAG]:
        raise ValueRefusedError(
            f"a recorded value is a {name!r}, a type this process does not know, so it is "
            "not rebuilt: import the module that defines the task using it, or call "
            f"taskloom.register_type(<{name}>)"
        )
    return known_types.build(known, data["data"])


def _datetime(data: dict[str, Any]) -> datetime:
    value = datetime.fromisoformat(data["iso"])
    zone = data.get("zone")
    if isinstance(zone, str):
        from zoneinfo import ZoneInfo

        value = value.replace(tzinfo=ZoneInfo(zone))
    return value


def _pickled(data: dict[str, Any]) -> Any:
    from taskloom.core import signing

    return signing.load_recorded(data)


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "float": lambda d: float(d["value"]),
    "dict": lambda d: {key: item for key, item in d["items"]},
    "tuple": lambda d: tuple(d["items"]),
    "set": lambda d: set(d["items"]),
    "frozenset": lambda d: frozenset(d["items"]),
    "bytes": lambda d: base64.b64decode(d["b64"], validate=True),
    "bytearray": lambda d: bytearray(base64.b64decode(d["b64"], validate=True)),
    "datetime": _datetime,
    "date": lambda d: date.fromisoformat(d["iso"]),
    "time": lambda d: time.fromisoformat(d["iso"]),
    "timedelta": lambda d: timedelta(days=d["d"], seconds=d["s"], microseconds=d["us"]),
    "decimal": lambda d: Decimal(d["value"]),
    "uuid": lambda d: UUID(d["value"]),
    "enum": _known,
    "dataclass": _known,
    "namedtuple": _known,
    "model": _known,
    "custom": _known,
    "pickle": _pickled,
}
