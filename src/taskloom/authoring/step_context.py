"""The step (durable operation recorder) running in this context, if any.

Inside a step of a durable step workflow, calling a ``@task`` must not run
it directly: it must return an awaitable that journals the call as an
operation. ``TaskDefinition.__call__`` reads this variable to decide; it
lives in its own tiny module so the task module needs neither asyncio nor
the step machinery to check it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from taskloom.authoring.task import TaskDefinition


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


def set_recorder(
    recorder: OperationRecorder | None,
) -> contextvars.Token[OperationRecorder | None]:
    return _current.set(recorder)


def reset_recorder(token: contextvars.Token[OperationRecorder | None]) -> None:
    _current.reset(token)
