"""How dataflow values are recorded: JSON when exact, tagged pickle otherwise.

auto_workflow tasks return arbitrary Python objects, but the journal stores
text. A value made only of ``dict`` (str keys), ``list``, ``str``, ``int``,
finite ``float``, ``bool`` and ``None`` is recorded as plain JSON, readable
in the journal. Anything else (tuples, sets, dataclasses, bytes, ...) would
not survive a JSON round trip unchanged, so it is pickled with cloudpickle and
recorded as ``{"__taskloom__": "pickle", "b64": "..."}``. A value that cannot
be pickled either is refused with an error naming the task.
"""

from __future__ import annotations

import base64
import json
import math
import pickle
from typing import Any

#: Key marking a recorded value that is not plain JSON.
TAG = "__taskloom__"

#: ``json.dumps(value, separators=(",", ":"), allow_nan=False)`` without
#: building a new encoder on every call (dumps caches only its defaults).
_compact = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


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


def encode_value(value: Any, what: str) -> str:
    """Record ``value``; ``what`` names its producer ("task 'add#0'") in errors."""
    if is_plain_json(value):
        return _compact.encode(value)
    try:
        import cloudpickle

        data = cloudpickle.dumps(value)
    except Exception as exc:
        raise TypeError(
            f"{what} returned a {type(value).__name__}, which is neither JSON nor picklable "
            f"({exc}); return JSON data, a picklable object, or use persist=True"
        ) from None
    return json.dumps({TAG: "pickle", "b64": base64.b64encode(data).decode("ascii")})


def decode_value(text: str) -> Any:
    """The value recorded by :func:`encode_value` (a fresh copy each time)."""
    return decode_loaded(json.loads(text))


def decode_loaded(data: Any) -> Any:
    """Like :func:`decode_value` for text that was already parsed as JSON."""
    if type(data) is dict and data.get(TAG) == "pickle":
        return pickle.loads(base64.b64decode(data["b64"]))
    return data
