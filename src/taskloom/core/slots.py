"""Concurrency slots shared by every run of one engine.

A task needs a slot to run. When several tasks wait, the one with the
highest priority goes first (ties: first come, first served). A task that
defers gives its slot back and asks again later with top priority, because
it already holds resources (a thread, half-done work).

All methods run on the engine's event-loop thread; no locks needed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable

#: Priority used by a task taking its slot back after deferring.
RESUME_PRIORITY = float("inf")


class SlotPool:
    """A counting semaphore with a priority-ordered wait queue and callbacks."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"max_concurrent_tasks={capacity}: must be at least 1")
        self.capacity = capacity
        self.in_use = 0
        self._waiters: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def request(self, priority: float, grant: Callable[[], None]) -> None:
        """Call ``grant()`` once a slot is held for the caller (maybe at once)."""
        if self.in_use < self.capacity and not self._waiters:
            self.in_use += 1
            grant()
            return
        heapq.heappush(self._waiters, (-priority, next(self._seq), grant))

    def release(self) -> None:
        """Give a slot back; hand it straight to the best waiter if there is one."""
        if self._waiters:
            _, _, grant = heapq.heappop(self._waiters)
            grant()
            return
        self.in_use -= 1
        if self.in_use < 0:  # a bug in the engine, never user input
            raise RuntimeError("slot released more times than acquired")

    @property
    def waiting(self) -> int:
        return len(self._waiters)


class SlotLease:
    """One attempt's claim on a slot; released at most once per acquisition.

    ``held`` changes under a lock because a deferring sync task gives its
    slot back from its own thread while a timeout may release it from the
    loop at the same moment: exactly one of them must return the slot.
    """

    __slots__ = ("_lock", "held", "pool")

    def __init__(self, pool: SlotPool) -> None:
        self.pool = pool
        self.held = True
        self._lock = threading.Lock()

    def _take_release(self) -> bool:
        with self._lock:
            if not self.held:
                return False
            self.held = False
            return True

    def release(self) -> None:
        """Give the slot back. Loop thread only."""
        if self._take_release():
            self.pool.release()

    def release_from_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the slot back from another thread: ``held`` is False at once."""
        if self._take_release():
            loop.call_soon_threadsafe(self.pool.release)
