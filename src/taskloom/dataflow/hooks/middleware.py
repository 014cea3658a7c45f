"""auto_workflow's task middleware: ``register(mw)`` wraps every task call of a flow.

A middleware is ``async def mw(next_call, task_def, args, kwargs)`` and must
``return await next_call()``; the first registered is the outermost. As in
auto_workflow, a middleware that raises *before* calling ``next_call`` is
skipped (a ``middleware_error`` event is emitted) and the chain goes on; an
error from the task itself, or raised after ``next_call``, fails the
attempt like any task error (and is retried like one).

The chain wraps one attempt of a flow node's body: inside it the task's
cache, persistence and ``get_context()`` work as usual. A sync body is
offloaded to a worker thread by the chain's innermost call, so a
middleware never blocks the engine's event loop. Immediate calls outside
a flow do not go through middleware (auto_workflow's do not either).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from taskloom.dataflow.hooks import named_events

NextCall = Callable[[], Awaitable[Any]]
Middleware = Callable[[NextCall, Any, tuple[Any, ...], dict[str, Any]], Awaitable[Any]]

_lock = threading.Lock()
_registry: tuple[Middleware, ...] = ()


def register(middleware: Middleware) -> None:
    """Add ``middleware`` to the chain of every flow task started from now on."""
    global _registry
    if not callable(middleware):
        raise TypeError(
            f"middleware.register({middleware!r}): pass an async function "
            "(next_call, task_def, args, kwargs)"
        )
    with _lock:
        _registry = (*_registry, middleware)


def clear() -> None:
    """Remove every registered middleware."""
    global _registry
    with _lock:
        _registry = ()


def registered() -> tuple[Middleware, ...]:
    """The chain, outermost first."""
    return _registry


async def call_chain(
    chain: tuple[Middleware, ...],
    core: NextCall,
    task_def: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    index: int = 0,
) -> Any:
    """Run ``core`` inside ``chain[index:]``."""
    if index == len(chain):
        return await core()
    reached = False

    async def next_call() -> Any:
        nonlocal reached
        reached = True
        return await call_chain(chain, core, task_def, args, kwargs, index + 1)

    try:
        return await chain[index](next_call, task_def, args, kwargs)
    except Exception as exc:
        if reached:
            raise
        named_events.emit(
            "middleware_error",
            {
                "task": getattr(task_def, "name", None),
                "middleware_index": index,
                "error": repr(exc),
            },
        )
        return await call_chain(chain, core, task_def, args, kwargs, index + 1)


def wrap_sync(
    body: Callable[..., Any], task_def: Any, chain: tuple[Middleware, ...]
) -> Callable[..., Awaitable[Any]]:
    """An async body running the sync ``body`` (in a thread) inside ``chain``."""

    async def run(*args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()

        async def core() -> Any:
            return await loop.run_in_executor(None, lambda: context.run(body, *args, **kwargs))

        return await call_chain(chain, core, task_def, args, kwargs)

    return run


def wrap_async(
    body: Callable[..., Awaitable[Any]], task_def: Any, chain: tuple[Middleware, ...]
) -> Callable[..., Awaitable[Any]]:
    """An async body running ``body`` inside ``chain``."""

    async def run(*args: Any, **kwargs: Any) -> Any:
        return await call_chain(chain, lambda: body(*args, **kwargs), task_def, args, kwargs)

    return run


__all__ = ["Middleware", "NextCall", "call_chain", "clear", "register", "registered"]
