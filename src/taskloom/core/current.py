"""Which run and which attempt the code running now belongs to.

A task body that wants to know its run id, its task name or its attempt
number (auto_workflow's ``get_context()``, log correlation, tracing) asks
:func:`current_task`. The scheduler knows these facts when it starts an
attempt, so it puts a :class:`TaskScope` in a context variable that the
body inherits: an async body through its asyncio task's context, a sync body
through the context copied into its worker thread. Nothing is stored
anywhere else, so there is no cleanup and no cross-talk between runs.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any, NamedTuple


class TaskScope(NamedTuple):
    """The run and attempt a task body runs for (a tuple: built for every attempt)."""

    run_id: str
    workflow_name: str
    #: The node key ("add#0" in a flow, the task id in a DAG).
    task_key: str
    #: The task's name ("add").
    task_name: str
    #: 1 for the first attempt.
    attempt: int
    #: When the run was created (epoch seconds).
    run_started_at: float
    #: The plan of the run; a style reads its own details from it.
    plan: Any = None


_scope: ContextVar[TaskScope | None] = ContextVar("taskloom_task_scope", default=None)


def current_task() -> TaskScope | None:
    """The scope of the task body running in this context, or None outside one."""
    return _scope.get()


def scope_of(run: Any, plan: Any, node: Any, attempt: int) -> TaskScope:
    """The scope of attempt ``attempt`` of ``node`` (a PlanNode) in ``run`` (a RunRecord)."""
    return TaskScope(
        run.run_id,
        plan.workflow_name,
        node.key,
        node.name or node.label or node.key,
        attempt,
        run.created_at,
        plan,
    )


def install(scope: TaskScope | None) -> Token[TaskScope | None]:
    """Make ``scope`` current; a task or a context copied now inherits it. Undo with
    :func:`uninstall`."""
    return _scope.set(scope)


def uninstall(token: Token[TaskScope | None]) -> None:
    """Undo :func:`install`."""
    _scope.reset(token)


__all__ = ["TaskScope", "current_task", "install", "scope_of", "uninstall"]
