"""Identical cached calls running at the same time execute once (per process).

Without this, ten nodes of a flow asking for the same uncached result all
miss the cache at once and all run the expensive body. The first caller of a
key becomes the *leader* and runs it; later callers of the same key, while
it runs, become *followers* and wait for the leader's outcome. Works across
threads and event loops because the meeting point is a
``concurrent.futures.Future``.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

from taskloom.errors import TaskloomError


class SingleFlight:
    """In-flight calls by cache key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, concurrent.futures.Future[Any]] = {}

    def join(self, key: str) -> tuple[bool, concurrent.futures.Future[Any]]:
        """``(True, future)`` if the caller leads ``key``; ``(False, future)`` to wait on."""
        with self._lock:
            future = self._calls.get(key)
            if future is not None:
                return False, future
            future = concurrent.futures.Future()
            self._calls[key] = future
            return True, future

    def finish(
        self,
        key: str,
        future: concurrent.futures.Future[Any],
        value: Any = None,
        error: BaseException | None = None,
    ) -> None:
        """The leader is done: later calls of ``key`` start afresh, followers get the outcome.

        A leader stopped by cancellation or shutdown (not an ``Exception``)
        hands its followers a ``TaskloomError`` instead, so that they fail
        like any task attempt (and may retry) rather than appear cancelled.
        """
        with self._lock:
            if self._calls.get(key) is future:
                del self._calls[key]
        if error is None:
            future.set_result(value)
        elif isinstance(error, Exception):
            future.set_exception(error)
        else:
            future.set_exception(
                TaskloomError(
                    f"the identical call {key.partition(':')[0]!r} it waited for was "
                    f"interrupted ({type(error).__name__})"
                )
            )


flights = SingleFlight()
