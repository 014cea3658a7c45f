"""``get_context()``: which run, flow, task and attempt the calling task body belongs to.

auto_workflow hands tasks a ``RunContext`` (``run_id``, ``flow_name``,
``start_time``, ``params``, ``logger``). taskloom builds the same object
from the scope the scheduler gives every attempt
(:func:`taskloom.core.current.current_task`) and adds what auto_workflow
lacks: ``task_name``, ``node`` (the call's journal key) and ``attempt``
(1 for the first try). It works in async and sync bodies of every style;
``params`` are the flow body's keyword arguments (empty in other styles).
Outside a task body it raises ``RuntimeError``, as in auto_workflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from taskloom.core.current import current_task


@dataclass(frozen=True, slots=True)
class RunContext:
    """The run and attempt a task body is running for."""

    run_id: str
    flow_name: str
    start_time: float
    params: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("taskloom"))
    task_name: str = ""
    #: The call's key in the journal (``"add#0"``).
    node: str = ""
    attempt: int = 1


def get_context() -> RunContext:
    """The :class:`RunContext` of the task body calling it."""
    scope = current_task()
    if scope is None:
        raise RuntimeError(
            "get_context() is called outside a running task: it works only inside the body "
            "of a task that a flow (or another taskloom run) is executing"
        )
    params = getattr(scope.plan, "params", None)
    return RunContext(
        run_id=scope.run_id,
        flow_name=scope.workflow_name,
        start_time=scope.run_started_at,
        params=dict(params) if isinstance(params, dict) else {},
        logger=logging.getLogger(f"taskloom.flow.{scope.workflow_name}"),
        task_name=scope.task_name,
        node=scope.task_key,
        attempt=scope.attempt,
    )


__all__ = ["RunContext", "get_context"]
