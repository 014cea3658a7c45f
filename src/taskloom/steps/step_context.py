"""The step (durable operation recorder) running in this context, if any.

Inside a step of a durable step workflow, calling a ``@task`` must not run
it directly: it must return an awaitable that journals the call as an
operation. Setting a recorder routes task calls made in this context to it
through :mod:`taskloom.core.calls`, the seam ``TaskDefinition.__call__``
consults.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from taskloom.core import calls

if TYPE_CHECKING:
    from taskloom.task import TaskDefinition


class OperationRecorder(Protocol):
    """Something that turns a task call into a journaled operation."""

    def call(
        self, task: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]: ...


_current: contextvars.ContextVar[OperationRecorder | None] = contextvars.ContextVar(
    "taskloom_step_recorder", default=None
)


def current_recorder() -> OperationRecorder | None:
    """The recorder of the step running in this asyncio task (None outside steps)."""
    return _current.get()


Token = tuple[
    contextvars.Token[OperationRecorder | None], contextvars.Token[calls.CallHandler | None]
]


def set_recorder(recorder: OperationRecorder | None) -> Token:
    handler = recorder.call if recorder is not None else None
    return _current.set(recorder), calls.set_handler(handler)


def reset_recorder(token: Token) -> None:
    calls.reset_handler(token[1])
    _current.reset(token[0])
