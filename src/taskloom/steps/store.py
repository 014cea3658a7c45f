"""``ctx.store``: workflow state shared between steps.

Writes of a step are buffered and recorded in the same journal row as the
step's directive, so a crash can never leave half of a step's writes
visible: either the step completed (all its puts and its directive are
recorded) or it is re-executed from the start with the previous state.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, overload

from taskloom.steps.codec import convert, json_default
from taskloom.steps.errors import StoreKeyNotFoundError

T = TypeVar("T")


class Store:
    """Key/value state of one workflow run, as seen by the running step."""

    def __init__(self, committed: dict[str, Any]) -> None:
        self._committed = committed
        self.updates: dict[str, Any] = {}

    def put(self, key: str, value: Any) -> None:
        """Set ``key``; recorded when the step returns its directive.

        JSON data, or a dataclass / pydantic model (recorded as its fields:
        ``get(key, Model)`` rebuilds it).
        """
        if not isinstance(key, str):
            raise TypeError(f"ctx.store.put: key {key!r} must be a str")
        try:
            text = json.dumps(value, default=json_default, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"ctx.store.put({key!r}, ...): the value cannot be recorded ({exc}); "
                "store JSON data (dict, list, str, number, bool, None), a dataclass or a "
                "pydantic model"
            ) from None
        # Keep a copy so later mutation of ``value`` cannot change what is recorded.
        self.updates[key] = json.loads(text)

    #: grctl's older name of :meth:`put`.
    set = put

    @overload
    async def get(self, key: str) -> Any: ...

    @overload
    async def get(self, key: str, ty: type[T]) -> T: ...

    async def get(self, key: str, ty: Any = None) -> Any:
        """The value of ``key``, rebuilt as ``ty`` when given (a number type, a dataclass,
        a pydantic model); ``StoreKeyNotFoundError`` (a ``KeyError``) naming it when it
        was never put."""
        if key in self.updates:
            value = self.updates[key]
        elif key in self._committed:
            value = self._committed[key]
        else:
            raise StoreKeyNotFoundError(key)
        return convert(value, ty, f"ctx.store.get({key!r}, {getattr(ty, '__name__', ty)})")
