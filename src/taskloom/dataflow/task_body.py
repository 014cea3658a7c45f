"""What one call of a dataflow task does around the user's function.

Cache lookup before, persistence and cache store after, with identical
concurrent calls collapsed into one (:mod:`single_flight`). Retries and the
timeout wrap the whole thing from outside (the scheduler in a flow, the
immediate-call loop outside one), so a cache hit is never retried or timed.

``store`` is where cached results live: the run's journal in a flow, the
in-process LRU for an immediate call (:mod:`result_cache`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from taskloom.dataflow.cache_key import cache_key
from taskloom.dataflow.result_cache import CacheStore
from taskloom.dataflow.single_flight import flights

if TYPE_CHECKING:
    from taskloom.task import TaskDefinition


def _count(name: str) -> None:
    """Count a cache event on auto_workflow's metrics provider, if that module is in use."""
    metrics = sys.modules.get("taskloom.dataflow.hooks.metrics")
    if metrics is not None:
        metrics.count(name)


def persisted(definition: TaskDefinition[Any, Any], value: Any) -> Any:
    """``persist=True`` turns the value into an ArtifactRef."""
    if definition.persist:
        from taskloom.dataflow.artifacts import get_store

        store = get_store()
        if definition.serializer == "pickle":
            # Only then: a store of the user's own need not know the option.
            return store.put(value, allow_pickle=True)  # type: ignore[call-arg]
        return store.put(value)
    return value


def run_sync(
    definition: TaskDefinition[Any, Any],
    store: CacheStore,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    compute: Callable[[], Any],
) -> Any:
    """``compute()`` (persisted), unless the cache or an identical running call has it."""
    if definition.cache_ttl is None:
        return persisted(definition, compute())
    key = cache_key(definition, args, kwargs)
    leader, future = flights.join(key)
    if not leader:
        _count("dedup_joins")
        return future.result()
    try:
        hit, value = store.get(key)
        if not hit:
            value = persisted(definition, compute())
            store.put(
                key, value, definition.cache_ttl, allow_pickle=definition.serializer == "pickle"
            )
        _count("cache_sets" if not hit else "cache_hits")
    except BaseException as exc:
        flights.finish(key, future, error=exc)
        raise
    flights.finish(key, future, value)
    return value


async def run_async(
    definition: TaskDefinition[Any, Any],
    store: CacheStore,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    compute: Callable[[], Awaitable[Any]],
) -> Any:
    """:func:`run_sync` for async bodies: waiting for a leader never blocks the loop."""
    if definition.cache_ttl is None:
        return persisted(definition, await compute())
    key = cache_key(definition, args, kwargs)
    leader, future = flights.join(key)
    if not leader:
        _count("dedup_joins")
        return await asyncio.wrap_future(future)
    try:
        hit, value = store.get(key)
        if not hit:
            value = persisted(definition, await compute())
            store.put(
                key, value, definition.cache_ttl, allow_pickle=definition.serializer == "pickle"
            )
        _count("cache_sets" if not hit else "cache_hits")
    except BaseException as exc:
        flights.finish(key, future, error=exc)
        raise
    flights.finish(key, future, value)
    return value


def sync_body(definition: TaskDefinition[Any, Any], store: CacheStore) -> Callable[..., Any]:
    """One attempt of a sync task in a flow, cache and persistence included."""
    fn = definition.fn

    def body(*args: Any, **kwargs: Any) -> Any:
        return run_sync(definition, store, args, kwargs, lambda: fn(*args, **kwargs))

    return body


def async_body(
    definition: TaskDefinition[Any, Any], store: CacheStore
) -> Callable[..., Awaitable[Any]]:
    """One attempt of an async task in a flow, cache and persistence included."""
    fn = definition.fn

    async def body(*args: Any, **kwargs: Any) -> Any:
        return await run_async(definition, store, args, kwargs, lambda: fn(*args, **kwargs))

    return body
