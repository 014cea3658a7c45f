"""Twin of ``auto_workflow.middleware`` (taskloom.dataflow.hooks.middleware)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from taskloom.dataflow.hooks.middleware import Middleware, call_chain, clear, register, registered


def get_task_middleware_chain() -> Callable[
    [Callable[[], Awaitable[Any]], Any, tuple[Any, ...], dict[str, Any]], Awaitable[Any]
]:
    """``runner(core, task_def, args, kwargs)`` running ``core`` inside the registered chain."""

    async def runner(
        core: Callable[[], Awaitable[Any]],
        task_def: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        return await call_chain(registered(), core, task_def, args, kwargs)

    return runner


__all__ = ["Middleware", "clear", "get_task_middleware_chain", "register"]
