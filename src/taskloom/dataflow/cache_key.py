"""Stable cache keys for ``@task(cache_ttl=...)``.

A journal-backed cache is shared by every process on the database and
outlives them, so a key must come out the same in every process and every
run of the same code. ``repr`` cannot promise that (memory addresses, set
order under hash randomisation) and neither can a plain ``pickle`` of the
arguments (set and dict order). The key is therefore a hash of:

* the task's identity: its id, qualified name and a hash of its code, so
  changing the function stops it from reading its old results;
* a canonical serialization of its arguments *bound to its signature*, so
  ``f(1, b=2)`` and ``f(a=1, b=2)`` and a defaulted ``f(1)`` are one key.
  Dicts and sets are sorted by the canonical form of their items; objects
  the serializer does not know are represented by their pickle, which is
  stable for ordinary classes (give ``cache_key_fn`` for the others).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import hashlib
import inspect
import json
import pathlib
import pickle
import uuid
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskloom.task import TaskDefinition

#: Types whose ``str`` is a canonical, process-independent spelling of the value.
_BY_STR: tuple[type, ...] = (
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    decimal.Decimal,
    uuid.UUID,
    pathlib.PurePath,
)

_identities: weakref.WeakKeyDictionary[Any, tuple[str, inspect.Signature | None]] = (
    weakref.WeakKeyDictionary()
)


def cache_key(
    definition: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """The key of one call: ``"<task id>:<identity>:<arguments>"``."""
    identity, signature = _identity(definition)
    if definition.cache_key_fn is not None:
        custom = definition.cache_key_fn(definition.fn, args, kwargs)
        return f"{definition.task_id}:{identity}:{custom}"
    bound: Any
    try:
        if signature is None:
            raise TypeError("no signature")
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        bound = dict(arguments.arguments)
    except TypeError:
        # The call does not fit the signature; the body will say so. Key the raw call.
        bound = {"args": args, "kwargs": kwargs}
    try:
        text = json.dumps(canonical(bound), separators=(",", ":"), allow_nan=False)
    except TypeError as exc:
        raise TypeError(
            f"task {definition.task_id!r}: cannot build a cache key from its arguments ({exc}); "
            "give @task(cache_key_fn=lambda fn, args, kwargs: ...) returning a str"
        ) from None
    return f"{definition.task_id}:{identity}:{hashlib.sha256(text.encode()).hexdigest()}"


def canonical(value: Any) -> Any:
    """``value`` as JSON data that is equal for equal values in any process.

    Containers are tagged with their type so ``(1, 2)`` and ``[1, 2]`` differ.
    Raises ``TypeError`` for an object that is neither known nor picklable.
    """
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return ["int", str(value)]  # JSON numbers lose precision beyond 2**53 in some readers
    if kind is float:
        return ["float", value.hex()]
    if isinstance(value, bytes | bytearray):
        return ["bytes", bytes(value).hex()]
    if isinstance(value, enum.Enum):
        return ["enum", _qualname(kind), value.name]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return ["namedtuple", _qualname(kind), [canonical(item) for item in value]]
    if isinstance(value, list | tuple):
        return ["list" if isinstance(value, list) else "tuple", [canonical(i) for i in value]]
    if isinstance(value, dict):
        pairs = [[canonical(k), canonical(v)] for k, v in value.items()]
        pairs.sort(key=lambda pair: json.dumps(pair[0], separators=(",", ":")))
        return ["dict", pairs]
    if isinstance(value, set | frozenset):
        items = sorted(
            (canonical(item) for item in value), key=lambda c: json.dumps(c, separators=(",", ":"))
        )
        return ["set", items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return ["dataclass", _qualname(kind), canonical(fields)]
    if isinstance(value, _BY_STR):
        return ["str", _qualname(kind), str(value)]
    try:
        blob = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise TypeError(
            f"a {kind.__name__} argument is neither serializable nor picklable: {exc}"
        ) from None
    return ["pickle", _qualname(kind), hashlib.sha256(blob).hexdigest()]


def _qualname(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _identity(definition: TaskDefinition[Any, Any]) -> tuple[str, inspect.Signature | None]:
    """``(hash of what the task is, its signature)``, computed once per task."""
    cached = _identities.get(definition)
    if cached is not None:
        return cached
    fingerprint = definition.fingerprint()
    text = f"{fingerprint['id']}|{fingerprint['fn']}|{fingerprint['code']}"
    try:
        signature: inspect.Signature | None = inspect.signature(definition.fn)
    except (TypeError, ValueError):
        signature = None
    result = (hashlib.sha256(text.encode()).hexdigest()[:16], signature)
    _identities[definition] = result
    return result
