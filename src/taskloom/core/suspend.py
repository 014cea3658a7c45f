"""``Suspend``: how a node body says "wake me later" without holding a slot.

A durable step run that sleeps or waits for an event must not keep a
concurrency slot, a thread or even a coroutine while it waits -- a waiting
run may wait for days. So its body raises ``Suspend``: the attempt ends,
the slot goes back, and the scheduler records the node as suspended with its
wake-up time. The engine re-runs the node when that time is due or when
something (a signal) may have changed; the body is expected to replay its
journal cheaply and either continue or suspend again.

It derives from ``BaseException`` so that a user's ``except Exception``
inside a step cannot swallow it (like ``asyncio.CancelledError``).
"""

from __future__ import annotations


class Suspend(BaseException):
    """Raised by a node body to end its attempt and wait to be woken."""

    def __init__(self, wake_at: float | None, reason: str) -> None:
        super().__init__(reason)
        #: Wall-clock time to re-run the node at, or None: only a wake() does.
        self.wake_at = wake_at
        self.reason = reason
