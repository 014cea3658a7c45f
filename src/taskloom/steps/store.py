"""``ctx.store``: workflow state shared between steps.

Writes of a step are buffered and recorded in the same journal row as the
step's directive, so a crash can never leave half of a step's writes
visible: either the step completed (all its puts and its directive are
recorded) or it is re-executed from the start with the previous state.
"""

from __future__ import annotations

import json
from typing import Any


class Store:
    """Key/value state of one workflow run, as seen by the running step."""

    def __init__(self, committed: dict[str, Any]) -> None:
        self._committed = committed
        self.updates: dict[str, Any] = {}

    def put(self, key: str, value: Any) -> None:
        """Set ``key``; recorded when the step returns its directive."""
        if not isinstance(key, str):
            raise TypeError(f"ctx.store.put: key {key!r} must be a str")
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"ctx.store.put({key!r}, ...): the value cannot be recorded ({exc}); "
                "store JSON data (dict, list, str, number, bool, None)"
            ) from None
        # Keep a copy so later mutation of ``value`` cannot change what is recorded.
        self.updates[key] = json.loads(text)

    async def get(self, key: str) -> Any:
        """The value of ``key``; ``KeyError`` naming it when it was never put."""
        if key in self.updates:
            return self.updates[key]
        if key in self._committed:
            return self._committed[key]
        raise KeyError(f"ctx.store has no key {key!r}; put it in an earlier step first")
