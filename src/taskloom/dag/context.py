"""The context: the JSON key/value bag that Cloaca-style tasks read and write.

Every run is durable, so everything a task puts in the context is eventually
written to the journal as JSON and read back after a crash. Rejecting a
non-JSON value at the moment it is stored, with the key and the path of the
offending piece, is far kinder than failing later inside the journal with a
message that names neither. The checks are plain recursive type tests rather
than a ``json.dumps`` round trip because they run on every ``set`` on the
engine's hot path.

The module also holds the JSON plumbing other modules share:
:func:`find_non_json` (validation with a readable path), :func:`json_equal`
(equality in the JSON sense, where ``true`` is not ``1``) and :func:`copy_json`,
and
:func:`merge_contexts`, which builds a task's input from the outputs of its
dependencies.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any, Self

from taskloom.core import result

__all__ = ["Context", "copy_json", "find_non_json", "json_equal", "merge_contexts"]

_ADVICE = "store str/int/float/bool/None, lists and dicts with str keys"
_NONE_TYPE = type(None)


class _NotJson(Exception):
    """Internal signal from the fast validating copy; the message is built later.

    The fast path carries no path information (building path strings for every
    element would cost more than the check itself), so on failure the caller
    re-walks the value with :func:`find_non_json` to describe the problem.
    """


# --------------------------------------------------------------------------- validation


def find_non_json(value: Any, path: str) -> str | None:
    """Describe the first part of ``value`` that is not a JSON value, or return None.

    ``path`` names ``value`` itself (for the context, the key); nested parts are
    reported below it, e.g. ``"datetime at when[2].x"``. JSON values are None,
    bool, int, finite float, str, list/tuple of JSON values and dicts (or other
    mappings) with str keys whose values are JSON values.

    Returns a description instead of raising so that each caller can phrase the
    error for its own audience (a context key, a trigger rule value, ...).
    """
    parts: list[str | int] = []
    try:
        return _problem(value, path, parts)
    except RecursionError:
        return f"circular reference or nesting too deep at {path}"


def _render_path(root: str, parts: list[str | int]) -> str:
    out = [root]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}")
        else:
            out.append(f"[{part!r}]")
    return "".join(out)


def _problem(value: Any, root: str, parts: list[str | int]) -> str | None:
    """Recursive worker of :func:`find_non_json`; ``parts`` is the path stack."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return f"non-finite float {value!r} at {_render_path(root, parts)}"
    if isinstance(value, (str, int)):
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            parts.append(index)
            found = _problem(item, root, parts)
            parts.pop()
            if found is not None:
                return found
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return (
                    f"dict key {key!r} of type {type(key).__name__} at {_render_path(root, parts)}"
                )
            parts.append(key)
            found = _problem(item, root, parts)
            parts.pop()
            if found is not None:
                return found
        return None
    return f"{t.__name__} at {_render_path(root, parts)}"


def _normalise(value: Any) -> Any:
    """Validate ``value`` as JSON and return a private copy of it.

    Copying and validating in one walk is what makes storing cheap: the context
    must own its data anyway (so the caller's later mutation cannot leak in),
    and the copy is also where tuples become lists and str/int/float subclasses
    (enums, for instance) become the plain types JSON gives back on reload, so
    a value reads the same before and after a crash. Raises :class:`_NotJson`
    without any detail; see :func:`find_non_json`.
    """
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        raise _NotJson
    if t is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                if not isinstance(key, str):
                    raise _NotJson
                key = str.__str__(key)
            out[key] = _normalise(item)
        return out
    if t is list or t is tuple:
        return [_normalise(item) for item in value]
    return _normalise_uncommon(value)


def _normalise_uncommon(value: Any) -> Any:
    """Subclasses of the JSON types (enums, OrderedDict, ...) and other mappings."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, float):
        plain = float(value)
        if math.isfinite(plain):
            return plain
        raise _NotJson
    if isinstance(value, int):  # bool is handled by the caller: it cannot be subclassed
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_normalise(item) for item in value]
    if isinstance(value, Mapping):
        return _normalise(dict(value.items()))
    raise _NotJson


def _checked_key(key: object) -> str:
    if type(key) is str:
        return key
    if isinstance(key, str):
        return str.__str__(key)
    raise TypeError(f"Context keys must be str, got {type(key).__name__} {key!r}")


def _checked_value(key: str, value: Any) -> Any:
    """Normalised private copy of ``value``, or a TypeError naming ``key`` and the path."""
    try:
        return _normalise(value)
    except (_NotJson, RecursionError):
        problem = find_non_json(value, key) or f"unsupported value at {key}"
    raise TypeError(
        f"Context value for key {key!r} is not JSON-serialisable ({problem}); {_ADVICE}"
    )


# --------------------------------------------------------------------------- equality / copy


def json_equal(a: Any, b: Any) -> bool:
    """Equality in the JSON sense: like ``==`` except that booleans are not numbers.

    Python says ``True == 1`` and ``[True] == [1]``; JSON (and Cloacina, whose
    rules taskloom reproduces) says ``true`` and ``1`` are different values, so a
    rule ``context_value("flag", "Equals", True)`` must not match a count of 1.
    Lists and tuples compare alike, as do dicts and other mappings, because
    they are the same JSON value. ``1 == 1.0`` stays true: they are the same
    number.
    """
    ta = type(a)
    if ta is type(b) and (ta is str or ta is int or ta is float or a is None):
        return bool(a == b)
    if ta is bool or type(b) is bool:
        return a is b
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return False
        return all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping):
        if not isinstance(b, Mapping) or len(a) != len(b):
            return False
        return all(key in b and json_equal(item, b[key]) for key, item in a.items())
    if isinstance(b, (list, tuple, Mapping)):
        return False
    return bool(a == b)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON-shaped value (tuples become lists, mappings dicts).

    Much faster than :func:`copy.deepcopy` because it skips the memo and the
    reduce protocol; anything unexpected (possible in data wrapped with
    :meth:`Context._trusted`) still falls back to ``deepcopy`` so no mutable
    structure is ever shared.
    """
    t = type(value)
    if t is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if t is list or t is tuple:
        return [copy_json(item) for item in value]
    if t is str or t is int or t is float or t is bool or value is None:
        return value
    if isinstance(value, Mapping):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_json(item) for item in value]
    return copy.deepcopy(value)


# --------------------------------------------------------------------------- Context


class Context(Mapping[str, Any]):
    """The mutable key/value bag that Cloaca tasks share, holding JSON values only.

    Behaves like Cloaca's ``Context`` (``get``/``set``/``insert``/``update``/
    ``remove``/``to_dict``/``update_from_dict``/``to_json``/``from_json`` and
    dict-style access) and is also a read-only :class:`~collections.abc.Mapping`,
    so ``dict(ctx)``, ``**ctx`` and ``ctx == {...}`` work.

    Values are validated and copied when stored. Reads (``get``, ``ctx[key]``)
    return the stored object itself, not a copy, because reads are the hot path;
    mutating such an object in place bypasses validation, so prefer ``set``.
    """

    __slots__ = ("_data",)

    _data: dict[str, Any]

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = {}
        if data is not None:
            if not isinstance(data, Mapping):
                raise TypeError(
                    f"Context data must be a dict (or other mapping), got {type(data).__name__}"
                )
            self._data = self._validated(data)

    # ----------------------------------------------------------------- engine hooks

    @classmethod
    def _trusted(cls, data: dict[str, Any]) -> Self:
        """Wrap ``data`` as is, without validating or copying it. For the engine.

        The engine builds contexts from JSON it has just decoded (or merged with
        :func:`merge_contexts`); that data is JSON by construction and owned by
        nobody else, so checking and copying it again would be pure overhead.
        The context takes ownership: the caller must not keep mutating ``data``.
        """
        ctx = cls.__new__(cls)
        ctx._data = data
        return ctx

    @property
    def data(self) -> dict[str, Any]:
        """The live underlying dict, not a copy. For the engine (e.g. to serialise).

        Writing to it bypasses validation; user code should use the methods.
        """
        return self._data

    # ----------------------------------------------------------------- Cloaca API

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when the key is absent."""
        return self._data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``, inserting or overwriting."""
        key = _checked_key(key)
        self._data[key] = _checked_value(key, value)

    def insert(self, key: str, value: Any) -> None:
        """Store ``value`` under a new ``key``; ValueError if the key is already present.

        Exists (as in Cloaca) for tasks that want to be told when they would
        clobber a value another task produced.
        """
        key = _checked_key(key)
        if key in self._data:
            raise ValueError(
                f"Context already has key {key!r}; use set() to overwrite it "
                "or update() to change an existing key"
            )
        self._data[key] = _checked_value(key, value)

    def update(self, key: str, value: Any) -> None:
        """Replace the value of an existing ``key``; KeyError if it is absent."""
        key = _checked_key(key)
        if key not in self._data:
            raise KeyError(
                f"Context has no key {key!r} to update; use set() to store it anyway "
                "or insert() to add a new key"
            )
        self._data[key] = _checked_value(key, value)

    def remove(self, key: str) -> Any:
        """Remove ``key`` and return its value, or return None if it was absent."""
        return self._data.pop(key, None)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the contents, safe to mutate without affecting the context."""
        return {key: copy_json(value) for key, value in self._data.items()}

    def update_from_dict(self, data: Mapping[str, Any]) -> None:
        """``set`` every item of ``data``; all-or-nothing if any item is invalid.

        Everything is validated before anything is stored, so a bad value does
        not leave the context half-updated.
        """
        if not isinstance(data, Mapping):
            raise TypeError(
                f"update_from_dict() needs a dict (or other mapping), got {type(data).__name__}"
            )
        self._data.update(self._validated(data))

    def to_json(self) -> str:
        """The contents as compact JSON text (what the journal stores)."""
        return json.dumps(self._data, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes | bytearray) -> Self:
        """A context holding the JSON object in ``text``.

        Raises ValueError if ``text`` is not valid JSON, is not an object, or
        uses the non-standard ``NaN``/``Infinity`` constants.
        """
        data = json.loads(text, parse_constant=_reject_constant)
        if not isinstance(data, dict):
            raise ValueError(f"Context JSON must be an object ({{...}}), got {type(data).__name__}")
        return cls._trusted(data)

    # ----------------------------------------------------------------- dict protocol

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise KeyError(
                f"Context has no key {key!r}; use get() to read a key that may be absent"
            ) from None

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        try:
            del self._data[key]
        except KeyError:
            raise KeyError(f"Context has no key {key!r} to delete") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def keys(self) -> KeysView[str]:
        return self._data.keys()

    def values(self) -> ValuesView[Any]:
        return self._data.values()

    def items(self) -> ItemsView[str, Any]:
        return self._data.items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Context):
            return self._data == other._data
        if isinstance(other, dict):
            return self._data == other
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _validated(data: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            checked = _checked_key(key)
            out[checked] = _checked_value(checked, value)
        return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Context JSON contains {name}, which is not a JSON value")


# --------------------------------------------------------------------------- merging


class _ListIndex:
    """What a merged list already holds, so each union step is O(new items).

    Hashable items (str, int, float, None; bools tagged apart because
    ``True == 1``) live in a set; dicts and lists cannot be hashed and are kept
    in a side list that is scanned only for other unhashable items.
    """

    __slots__ = ("hashed", "owner", "unhashable")

    def __init__(self, owner: list[Any]) -> None:
        self.owner = owner  # keeps the list alive so its id() cannot be reused
        self.hashed: set[Any] = set()
        self.unhashable: list[Any] = []
        for item in owner:
            self.add_if_new(item)

    def add_if_new(self, item: Any) -> bool:
        """Record ``item``; return False if an equal item was already recorded."""
        t = type(item)
        if t is str or t is int or t is float or item is None:
            marker: Any = item
        elif t is bool:
            marker = (_BOOL_TAG, item)
        elif t is dict or t is list or t is tuple or isinstance(item, (Mapping, list, tuple)):
            for seen in self.unhashable:
                if json_equal(seen, item):
                    return False
            self.unhashable.append(item)
            return True
        else:
            try:
                hash(item)
            except TypeError:
                if any(seen == item for seen in self.unhashable):
                    return False
                self.unhashable.append(item)
                return True
            marker = item
        if marker in self.hashed:
            return False
        self.hashed.add(marker)
        return True


_BOOL_TAG = object()


def merge_contexts(outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The input context of a task: the merge of its dependencies' outputs, in order.

    The rules are Cloacina's, so that a workflow behaves the same on both
    engines: dicts merge recursively; lists are unioned in order without
    adding duplicates (the earlier list as is, then the later list's items that
    are not already present); any other clash, including a type mismatch such
    as list vs dict, is won by the later output. Item equality is
    :func:`json_equal`.

    The inputs are not mutated and the result shares no mutable structure with
    them. Runs in time linear in the total size of the outputs (plus a scan over
    the dict/list items of a list when unioning such items).
    """
    result: dict[str, Any] = {}
    indexes: dict[int, _ListIndex] = {}
    for output in outputs:
        _merge_into(result, output, indexes)
    return result


def _merge_into(
    target: dict[str, Any], source: Mapping[str, Any], indexes: dict[int, _ListIndex]
) -> None:
    """Merge ``source`` into ``target`` (which is ours to mutate) in place."""
    for key, new in source.items():
        if key in target:
            old = target[key]
            if type(old) is dict and isinstance(new, Mapping):
                _merge_into(old, new, indexes)
                continue
            if type(old) is list and isinstance(new, (list, tuple)):
                index = indexes.get(id(old))
                if index is None:
                    index = indexes[id(old)] = _ListIndex(old)
                for item in new:
                    if index.add_if_new(item):
                        old.append(copy_json(item))
                continue
        target[key] = copy_json(new)


result.set_context_type(Context)
