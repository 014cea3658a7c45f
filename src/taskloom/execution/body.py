"""Run one attempt of a task body: async on the loop, sync in a thread.

Timeouts: an async body is cancelled; a sync body's attempt fails on time
but its thread cannot be killed by Python, so it runs on in the background
and whatever it returns is discarded.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Executor
from typing import Any

from taskloom.errors import TaskTimeoutError
from taskloom.execution.handle import TaskHandle
from taskloom.planning.plan import Invocation, PlanNode


async def run_body(
    node: PlanNode,
    invocation: Invocation,
    handle: TaskHandle | None,
    executor: Executor,
) -> Any:
    """Call the node's function once and return its value (raising its error)."""
    args = invocation.args
    if node.handle_parameter is not None:
        args = (*args, handle)
    timeout = node.timeout
    loop = asyncio.get_running_loop()
    if node.is_async:
        awaitable = node.fn(*args, **invocation.kwargs)
    else:
        call = functools.partial(node.fn, *args, **invocation.kwargs)
        awaitable = loop.run_in_executor(executor, call)
    if timeout is None:
        value = await awaitable
    else:
        try:
            async with asyncio.timeout(timeout) as scope:
                value = await awaitable
        except TimeoutError:
            if not scope.expired():
                raise
            detail = "" if node.is_async else " (its thread runs on; the result is discarded)"
            raise TaskTimeoutError(
                f"task {node.label!r} timed out after {timeout:g} s{detail}"
            ) from None
    if not node.is_async and asyncio.iscoroutine(value):
        value = await value
    return value
