"""Recorded values that can also be awaited: ``ctx.random()`` / ``ctx.uuid4()``.

grctl makes them coroutines (``await ctx.random()``); taskloom's steps first
returned the value itself (``ctx.random()``). The value is recorded when the
method is *called* -- so positions follow the order of calls, as for task
calls -- and returned as a float / UUID that is also awaitable, so both
spellings work and give the same recorded value.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator


class RecordedFloat(float):
    """A float that ``await`` returns as a plain float."""

    def __await__(self) -> Generator[None, None, float]:
        yield from ()
        return float(self)


class RecordedUUID(uuid.UUID):
    """A UUID that ``await`` returns as a plain ``uuid.UUID``."""

    def __await__(self) -> Generator[None, None, uuid.UUID]:
        yield from ()
        return uuid.UUID(int=self.int)
