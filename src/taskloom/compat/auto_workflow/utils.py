"""Twin of ``auto_workflow.utils``: the default cache key and two small helpers."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
from collections.abc import Callable
from typing import Any

from taskloom.dataflow.cache_key import canonical


def default_cache_key(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A SHA-256 of the function's name and its arguments bound to its signature.

    The same in every process (no ``repr``, no hash randomisation); a task's
    own cache key in taskloom also covers its code (``taskloom.dataflow.cache_key``).
    """
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
        bound.apply_defaults()
        arguments: Any = dict(bound.arguments)
    except (TypeError, ValueError):
        arguments = {"args": list(args), "kwargs": kwargs}
    source = [getattr(fn, "__module__", None), getattr(fn, "__qualname__", None), arguments]
    text = json.dumps(canonical(source), separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def is_coroutine_fn(fn: Callable[..., Any]) -> bool:
    """True for ``async def`` functions (and partials of them)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return asyncio.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


async def maybe_await(value: Any) -> Any:
    """``await value`` if it is awaitable, else ``value``."""
    if inspect.isawaitable(value):
        return await value
    return value


__all__ = ["default_cache_key", "is_coroutine_fn", "maybe_await"]
