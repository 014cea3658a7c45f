"""``TaskHandle``: lets a running task give its concurrency slot back while it waits.

A sync task calls ``handle.defer_until(cond)``, which blocks its thread. In an
``async def`` task the same call returns an awaitable:
``await handle.defer_until(cond)`` -- blocking the event loop would stall
every other task.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from taskloom.core import trace_hooks
from taskloom.core.slots import RESUME_PRIORITY, SlotLease

logger = logging.getLogger("taskloom")


class TaskHandle:
    """Given to a task whose second parameter is named ``handle`` or ``task_handle``."""

    def __init__(self, lease: SlotLease, loop: asyncio.AbstractEventLoop, task_id: str) -> None:
        self._lease = lease
        self._loop = loop
        self._task_id = task_id
        self._consumed = False

    def _check(self) -> None:
        if self._consumed:
            raise ValueError(
                f"the TaskHandle of task {self._task_id!r} was already consumed: its attempt "
                "has finished; use the handle only while the task runs"
            )

    def is_slot_held(self) -> bool:
        """Whether the task currently holds a concurrency slot."""
        self._check()
        return self._lease.held

    def defer_until(self, condition: Callable[[], Any], poll_interval_ms: int = 1000) -> Any:
        """Release the slot, poll ``condition()`` until true, take a slot again.

        An exception raised by ``condition`` counts as ``False``. Returns
        ``None`` in a sync task; an awaitable in an async task.
        """
        self._check()
        if not callable(condition):
            raise TypeError(f"task {self._task_id!r}: defer_until needs a callable condition")
        if isinstance(poll_interval_ms, bool) or not isinstance(poll_interval_ms, int | float):
            raise TypeError(f"task {self._task_id!r}: poll_interval_ms must be a number")
        if poll_interval_ms < 0:
            raise ValueError(f"task {self._task_id!r}: poll_interval_ms must be >= 0")
        interval = poll_interval_ms / 1000.0
        trace_hooks.event("taskloom.defer", {"poll_interval_ms": poll_interval_ms})
        if _on_loop(self._loop):
            return self._defer_async(condition, interval)
        self._defer_blocking(condition, interval)
        return None

    def _holds_check(self, condition: Callable[[], Any]) -> bool:
        try:
            return bool(condition())
        except Exception:
            logger.debug("defer_until condition of task %r raised", self._task_id, exc_info=True)
            return False

    def _defer_blocking(self, condition: Callable[[], Any], interval: float) -> None:
        self._lease.release_from_thread(self._loop)
        while not self._consumed and not self._holds_check(condition):
            time.sleep(interval)
        if self._consumed:  # the attempt timed out meanwhile: no slot to take back
            return
        reacquired = threading.Event()
        self._loop.call_soon_threadsafe(self._request_slot, reacquired.set)
        reacquired.wait()

    async def _defer_async(self, condition: Callable[[], Any], interval: float) -> None:
        self._lease.release()
        while not self._consumed and not self._holds_check(condition):
            await asyncio.sleep(interval)
        if self._consumed:
            return
        granted: asyncio.Future[None] = self._loop.create_future()

        def wake() -> None:
            if not granted.done():
                granted.set_result(None)

        self._request_slot(wake)
        await granted

    def _request_slot(self, then: Callable[[], Any]) -> None:
        def grant() -> None:
            if self._consumed:  # the attempt ended while waiting: pass the slot on
                self._lease.pool.release()
            else:
                self._lease.held = True
            then()

        self._lease.pool.request(RESUME_PRIORITY, grant)

    def _consume(self) -> None:
        """Called by the engine when the attempt ends."""
        self._consumed = True


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def awaitable(value: Any) -> bool:
    """True for coroutines and other awaitables (used to await async callbacks)."""
    return isinstance(value, Awaitable)
