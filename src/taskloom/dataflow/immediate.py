"""Calling a dataflow task outside a flow runs it at once (auto_workflow).

The call honours the task's retries (with backoff), timeout, cache and
persistence, but is not recorded in the journal: it is a plain function call
with a safety net; having no journal, it caches in the backend the
``result_cache`` setting names (a process-wide LRU by default). A sync
task runs in the caller's thread, so it works whether or not an event loop
is running. An async task returns an awaitable
when a loop is running in this thread (``await my_task(x)``) and is run to
completion with ``asyncio.run`` when none is.

A sync task with a timeout runs in a helper thread so the caller can stop
waiting; Python cannot kill a thread, so the body runs on and its result is
discarded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from taskloom.dataflow import task_body
from taskloom.dataflow.result_cache import CacheStore, cache
from taskloom.dataflow.result_caches import ImmediateStore
from taskloom.errors import TaskTimeoutError

if TYPE_CHECKING:
    from taskloom.task import TaskDefinition

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def call_now(
    definition: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run one call of ``definition`` now; see the module docstring."""
    kwargs.pop("wait_for", None)  # meaningless outside a flow
    if definition.is_async:
        coro = run_async(definition, args, kwargs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        return coro
    if definition.run_in == "process":
        from taskloom.dataflow.process import run_in_process

        return _retrying(definition, args, kwargs, lambda: run_in_process(definition, args, kwargs))
    return _retrying(definition, args, kwargs, None)


def _retrying(
    definition: TaskDefinition[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    attempt_fn: Callable[[], Any] | None,
) -> Any:
    def attempts() -> Any:
        policy = definition.dataflow_retry
        attempt = 0
        while True:
            attempt += 1
            try:
                if attempt_fn is not None:
                    return attempt_fn()
                if definition.timeout is None:
                    return definition.fn(*args, **kwargs)
                return _with_timeout(definition, args, kwargs)
            except Exception as exc:
                if not policy.should_retry(attempt, exc):
                    raise
                time.sleep(policy.calculate_delay(attempt))

    return task_body.run_sync(definition, _store(definition), args, kwargs, attempts)


def _with_timeout(
    definition: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="taskloom-call")
        pool = _pool
    future = pool.submit(definition.fn, *args, **kwargs)
    try:
        return future.result(timeout=definition.timeout)
    except concurrent.futures.TimeoutError:
        raise TaskTimeoutError(
            f"task {definition.task_id!r} timed out after {definition.timeout:g} s "
            "(its thread runs on; the result is discarded)"
        ) from None


def run_async(
    definition: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Coroutine[Any, Any, Any]:
    """The awaitable of one immediate call of an async task."""

    async def attempts() -> Any:
        policy = definition.dataflow_retry
        attempt = 0
        while True:
            attempt += 1
            try:
                if definition.timeout is None:
                    return await definition.fn(*args, **kwargs)
                return await _await_with_timeout(definition, args, kwargs)
            except Exception as exc:
                if not policy.should_retry(attempt, exc):
                    raise
                await asyncio.sleep(policy.calculate_delay(attempt))

    return task_body.run_async(definition, _store(definition), args, kwargs, attempts)


async def _await_with_timeout(
    definition: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    timeout = definition.timeout
    try:
        async with asyncio.timeout(timeout) as scope:
            return await definition.fn(*args, **kwargs)
    except TimeoutError:
        if not scope.expired():
            raise
        raise TaskTimeoutError(
            f"task {definition.task_id!r} timed out after {timeout:g} s"
        ) from None


def _store(definition: TaskDefinition[Any, Any]) -> CacheStore:
    """Where an immediate call caches: the configured backend (``result_cache`` setting)."""
    if definition.cache_ttl is None:
        return cache  # never read: the call does not cache
    return ImmediateStore(definition.cache_ttl)
