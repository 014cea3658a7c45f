"""User callbacks (``on_success``, ``on_failure``) run isolated from the task they follow.

A callback is user code that runs after a task's outcome is recorded; it
must never change that outcome or stop the engine (even ``SystemExit`` is
logged and swallowed). The local scheduler and the distributed worker both
run callbacks this way, and both write a failed attempt down with the same
two texts (:func:`describe_error`, :func:`format_traceback`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import traceback
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("taskloom")


def run_isolated(
    loop: asyncio.AbstractEventLoop,
    executor: concurrent.futures.Executor,
    label: str,
    fn: Callable[..., Any],
    *args: Any,
) -> asyncio.Task[None]:
    """Start ``fn(*args)`` on ``loop`` (sync callbacks in ``executor``); errors are logged."""

    async def call() -> None:
        try:
            if asyncio.iscoroutinefunction(fn):
                await fn(*args)
            else:
                result = await loop.run_in_executor(executor, lambda: fn(*args))
                if asyncio.iscoroutine(result):
                    await result
        except asyncio.CancelledError:
            raise
        except BaseException:  # even SystemExit: a callback must not stop the engine
            logger.exception(
                "callback %s of task %r raised; the task's outcome is unchanged",
                getattr(fn, "__name__", fn),
                label,
            )

    return loop.create_task(call())


def describe_error(exc: BaseException) -> str:
    """The one-line form of a failure recorded with an attempt: ``"Type: message"``."""
    return f"{type(exc).__name__}: {exc}"


def format_traceback(exc: BaseException) -> str:
    """The traceback recorded with a failed attempt."""
    return "".join(traceback.format_exception(exc))
