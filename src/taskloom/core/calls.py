"""The seam between ``@task`` and the runtimes: what calling a task does here.

Calling a decorated function means different things depending on where the
call happens: inside a ``@flow`` body it records a node, inside a step of a
durable workflow it journals an operation, anywhere else it runs the task at
once. The public surface (``taskloom.task``) must not import the styles that
give those meanings, and the styles must not know each other, so this module
holds the one meeting point: a context variable naming the handler of the
code running now (set by a style while it runs user code), and the handler
for calls made outside any style (installed by the runtime on import).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

#: ``handler(task, args, kwargs)`` carries out one call of a task.
CallHandler = Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]

_current: contextvars.ContextVar[CallHandler | None] = contextvars.ContextVar(
    "taskloom_call_handler", default=None
)
_outside: CallHandler | None = None


def current_handler() -> CallHandler | None:
    """The handler set by the style running user code in this context, if any."""
    return _current.get()


def set_handler(handler: CallHandler | None) -> contextvars.Token[CallHandler | None]:
    """Route task calls made in this context to ``handler`` (None: run them at once)."""
    return _current.set(handler)


def reset_handler(token: contextvars.Token[CallHandler | None]) -> None:
    _current.reset(token)


def install_outside_handler(handler: CallHandler) -> None:
    """Set what a task call outside every flow and step does (the runtime's job)."""
    global _outside
    _outside = handler


def call_outside(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Carry out a call made outside every flow and step."""
    if _outside is None:  # pragma: no cover - taskloom/__init__ installs it
        raise RuntimeError(
            f"task {getattr(task, 'task_id', task)!r} was called outside a flow, but no "
            "runtime is installed; import taskloom before calling tasks"
        )
    return _outside(task, args, kwargs)
