"""Fired schedules queued for the workers: the launcher of client-mode runners.

A ``DefaultRunner(url, execute=False)`` executes nothing, yet fires its
schedules like any runner: the fire transaction inserts the run and its
task rows into the PostgreSQL queue (:meth:`TaskQueue.enqueue_run_in`) and
notifies the workers in the same transaction, exactly as a client submits.
"""

from __future__ import annotations

import time
from typing import Any

from taskloom.core.plan import Plan
from taskloom.core.schedule_loop import Fire
from taskloom.core.styles import PlanHost
from taskloom.journal.base import Journal
from taskloom.journal.postgres_queue import TaskQueue
from taskloom.journal.queue_records import QueuedTask
from taskloom.journal.records import RunRecord, RunStatus


class _Host:
    """What a style's starter may use when no engine is here: the journal, a task timeout."""

    def __init__(self, journal: Journal, task_timeout: float | None) -> None:
        self._journal = journal
        self._task_timeout = task_timeout

    @property
    def journal(self) -> Journal:
        return self._journal

    @property
    def task_timeout(self) -> float | None:
        return self._task_timeout


class QueueLauncher:
    """Queues fired runs for ``taskloom worker`` processes."""

    def __init__(self, journal: Journal, task_timeout: float | None) -> None:
        self.queue = TaskQueue(journal)  # type: ignore[arg-type]
        self._host = _Host(journal, task_timeout)
        self.task_timeout = task_timeout

    @property
    def host(self) -> PlanHost:
        return self._host

    def launch(self, plan: Plan, input_json: str, run_id: str, fire: Fire) -> None:
        run = RunRecord(
            run_id=run_id,
            workflow_name=plan.workflow_name,
            workflow_version=plan.workflow_version,
            kind=plan.kind,
            status=RunStatus.RUNNING,
            input_json=input_json,
            created_at=time.time(),
        )
        limits = plan.group_limits
        tasks = [
            QueuedTask(
                key,
                len(node.deps),
                node.priority,
                node.group,
                limits.get(node.group) if node.group is not None else None,
            )
            for key, node in plan.nodes.items()
        ]
        run_limit: int | None = getattr(plan, "max_concurrency", None)
        queue = self.queue
        timeout = self.task_timeout if plan.kind == "dag" else None

        def insert(conn: Any) -> None:
            queue.enqueue_run_in(conn, run, tasks, run_limit, None, timeout)

        fire(insert)
