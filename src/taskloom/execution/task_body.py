"""What one call of a dataflow task does around the user's function.

Cache lookup before, persistence and cache store after. Retries and the
timeout wrap the whole thing from outside (the scheduler in a flow, the
immediate-call loop outside one), so a cache hit is never retried or timed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from taskloom.execution.result_cache import cache, cache_key

if TYPE_CHECKING:
    from taskloom.authoring.task import TaskDefinition


def before(
    definition: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str | None, bool, Any]:
    """``(key, hit, value)``: a cache hit means the body need not run."""
    if definition.cache_ttl is None:
        return None, False, None
    key = cache_key(definition, args, kwargs)
    hit, value = cache.get(key)
    return key, hit, value


def after(definition: TaskDefinition[Any, Any], key: str | None, value: Any) -> Any:
    """Persist (``persist=True`` turns the value into an ArtifactRef) and cache it."""
    if definition.persist:
        from taskloom.artifacts import get_store

        value = get_store().put(value)
    if key is not None and definition.cache_ttl is not None:
        cache.put(key, value, definition.cache_ttl)
    return value


def sync_body(definition: TaskDefinition[Any, Any]) -> Callable[..., Any]:
    """One attempt of a sync task, cache and persistence included."""
    fn = definition.fn

    def body(*args: Any, **kwargs: Any) -> Any:
        key, hit, value = before(definition, args, kwargs)
        if hit:
            return value
        return after(definition, key, fn(*args, **kwargs))

    return body


def async_body(definition: TaskDefinition[Any, Any]) -> Callable[..., Awaitable[Any]]:
    """One attempt of an async task, cache and persistence included."""
    fn = definition.fn

    async def body(*args: Any, **kwargs: Any) -> Any:
        key, hit, value = before(definition, args, kwargs)
        if hit:
            return value
        return after(definition, key, await fn(*args, **kwargs))

    return body
