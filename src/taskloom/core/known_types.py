"""Which classes a value read from the journal may be rebuilt as, and how.

Rebuilding an object calls its class, so the class must not be chosen by the
journal: a name in journal text is only looked up among the types the
program itself made known -- those in the annotations of its ``@task`` and
``@flow`` functions (``-> Point``, ``list[Point]``, fields of dataclasses
found there) and those passed to :func:`register_type`. Enums, dataclasses,
NamedTuples and pydantic models are rebuilt from their data; any other
registered class through the decode function given with it.

Both codecs use this: the tagged codec of dataflow values
(:mod:`taskloom.core.codec`, type named in the record) and the plain JSON of
step results (:func:`plain_default` / :func:`rebuild`, type taken from the
task's return annotation).
"""

from __future__ import annotations

import dataclasses
import threading
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from taskloom.errors import ValueRefusedError


@dataclass(frozen=True, slots=True)
class Known:
    """A known type: its name in the journal and how it becomes data and back."""

    cls: type
    name: str
    kind: str  # "enum", "dataclass", "namedtuple", "model" or "custom"
    to_data: Callable[[Any], Any] | None = None
    from_data: Callable[[Any], Any] | None = None


_lock = threading.RLock()
_by_class: dict[type, Known] = {}
_by_name: dict[str, Known] = {}
#: Functions whose annotations have not been read yet (read on the first unknown type).
_pending: list[Callable[..., Any]] = []


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def auto_kind(cls: type) -> str | None:
    """The built-in way to record instances of ``cls``, or None."""
    if issubclass(cls, Enum):
        return "enum"
    if dataclasses.is_dataclass(cls):
        return "dataclass"
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return "namedtuple"
    if callable(getattr(cls, "model_validate", None)) and callable(
        getattr(cls, "model_dump", None)
    ):
        return "model"
    return None


def register_type(
    cls: type,
    *,
    name: str | None = None,
    encode: Callable[[Any], Any] | None = None,
    decode: Callable[[Any], Any] | None = None,
) -> type:
    """Let taskloom record and rebuild instances of ``cls``; returns ``cls``.

    Enums, dataclasses, NamedTuples and pydantic models need nothing else.
    Any other class needs ``encode`` (instance -> data taskloom records)
    and ``decode`` (that data -> instance). ``name`` is how the type is
    written in the journal (default ``module.QualName``); give a stable one
    if the class may move. Usable as a decorator: ``@register_type``.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_type({cls!r}): give a class")
    if (encode is None) != (decode is None):
        raise TypeError(f"register_type({cls.__qualname__}): give both encode= and decode=")
    if encode is not None and not (callable(encode) and callable(decode)):
        raise TypeError(f"register_type({cls.__qualname__}): encode= and decode= are functions")
    kind = "custom" if encode is not None else auto_kind(cls)
    if kind is None:
        raise TypeError(
            f"register_type({qualified_name(cls)}): taskloom cannot record this class by "
            "itself (it records enums, dataclasses, NamedTuples and pydantic models); pass "
            "encode=<instance -> data> and decode=<data -> instance>"
        )
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"register_type({cls.__qualname__}, name={name!r}): give a non-empty str")
    known = Known(cls, name or qualified_name(cls), kind, encode, decode)
    with _lock:
        _by_class[cls] = known
        _by_name[known.name] = known
        if kind in ("dataclass", "model"):
            _note_hints(typing_hints(cls), set())
    return cls


def note_annotations(fn: Callable[..., Any]) -> None:
    """Remember ``fn``: the types in its annotations become known when first needed.

    Read lazily because a decorated function may annotate with classes its
    module defines further down, and so that decorating costs nothing.
    """
    with _lock:
        _pending.append(fn)


def learn_from(value: Any) -> None:
    """Make known the enum, dataclass and NamedTuple types of the instances in ``value``.

    For structures the program itself builds (a flow body's returned
    template), whose classes it will build again when it re-runs.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(item.values())
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            stack.extend(item)
        elif kind not in _by_class and auto_kind(kind) in ("enum", "dataclass", "namedtuple"):
            with _lock:
                known = Known(kind, qualified_name(kind), auto_kind(kind) or "")
                _by_class.setdefault(kind, known)
                _by_name.setdefault(known.name, known)
            if known.kind == "namedtuple":
                stack.extend(item)
            elif known.kind == "dataclass":
                stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))


def typing_hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception:
        return {}


def _read_pending() -> None:
    with _lock:
        pending = list(_pending)
        _pending.clear()
        seen: set[int] = set()
        # Every hint stays referenced until the batch is done: ``seen`` holds ids,
        # and the id of a hint freed early could be reused by another (a skipped type).
        held: list[Any] = []
        for fn in pending:
            hints = typing_hints(fn)
            held.append(hints)
            if not hints and getattr(fn, "__annotations__", None):
                _pending.append(fn)  # not resolvable yet: try again on the next miss
            _note_hints(hints, seen, held)


def _note_hints(hints: dict[str, Any], seen: set[int], held: list[Any] | None = None) -> None:
    held = [] if held is None else held
    stack = list(hints.values())
    while stack:
        hint = stack.pop()
        if id(hint) in seen:
            continue
        seen.add(id(hint))
        held.append(hint)  # keeps its id unique while ``seen`` is in use
        stack.extend(typing.get_args(hint))
        if isinstance(hint, type) and hint not in _by_class:
            kind = auto_kind(hint)
            if kind is not None:
                known = Known(hint, qualified_name(hint), kind)
                _by_class[hint] = known
                _by_name.setdefault(known.name, known)
                if kind in ("dataclass", "model"):
                    stack.extend(typing_hints(hint).values())


def by_class(cls: type) -> Known | None:
    """How to record ``cls``, if it is known."""
    known = _by_class.get(cls)
    if known is None:
        # Always through the lock: another thread may be reading the pending
        # annotations right now (``_pending`` already empty, types not yet noted).
        _read_pending()
        known = _by_class.get(cls)
    return known


def by_name(name: str) -> Known | None:
    """The known type recorded under ``name``, if any."""
    known = _by_name.get(name)
    if known is None:
        _read_pending()  # through the lock, as in by_class
        known = _by_name.get(name)
    return known


def build(known: Known, payload: Any) -> Any:
    """An instance of ``known`` from its decoded data (no other class is called)."""
    cls: Any = known.cls
    if known.kind == "enum":
        return cls(payload)
    if known.kind == "dataclass":
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(payload) - set(fields)
        if unknown:
            raise ValueRefusedError(
                f"a recorded {known.name} has fields its class does not: {sorted(unknown)}"
            )
        made = cls(**{k: v for k, v in payload.items() if fields[k].init})
        for key, item in payload.items():
            if not fields[key].init:
                object.__setattr__(made, key, item)
        return made
    if known.kind == "namedtuple":
        return cls(*payload)
    if known.kind == "model":
        return cls.model_validate(payload)
    assert known.from_data is not None
    return known.from_data(payload)


# -- plain JSON rebuilt from an annotation (step results) ---------------------


def plain_default(value: Any) -> Any:
    """``json.dumps(default=...)`` hook: dataclasses and models as their fields."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic v2 model
        return dump(mode="json")
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"a {type(value).__name__} is not JSON data")


def rebuild(data: Any, annotation: Any) -> Any:
    """``data`` rebuilt as ``annotation`` when that is a dataclass or model, else as is.

    The class comes from the program's own annotation, never from the data.
    """
    if data is None or not isinstance(annotation, type):
        return data
    if dataclasses.is_dataclass(annotation) and isinstance(data, dict):
        hints = typing_hints(annotation)
        values = {
            f.name: rebuild(data[f.name], hints.get(f.name))
            for f in dataclasses.fields(annotation)
            if f.name in data
        }
        return annotation(**values)
    validate = getattr(annotation, "model_validate", None)
    if callable(validate):
        return validate(data)
    return data
