"""Step runs executed by distributed workers: the client's side.

``steps.Client(db, execute=False)`` queues a run's single node (the
driver) for ``taskloom worker`` processes instead of driving it here. A
worker that imported the workflow's module claims the node like any task,
replays the journal and runs steps; a wait, a sleep or a child ends its
claim as ``Suspended`` with the wake-up time (none while only an event can
wake it), so a waiting run holds no worker. ``send`` records the event and,
in the same transaction, makes the suspended node claimable and notifies
the workers (see ``PostgresJournal.send_signal``), so nothing here has to
wake anything.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from taskloom.execution.client import shared_client
from taskloom.journal.postgres_queue import QueuedTask
from taskloom.journal.records import RunRecord, RunStatus
from taskloom.steps.journal import DRIVER_KEY
from taskloom.steps.plan import KIND, VERSION

if TYPE_CHECKING:
    from taskloom.execution.client import Client
    from taskloom.journal.base import Journal
    from taskloom.steps.workflow import Workflow


class DistributedSteps:
    """What a step client and its handles need, backed by the workers' queue."""

    def __init__(self, db: str | None) -> None:
        self.client: Client = shared_client(db)

    @property
    def journal(self) -> Journal:
        return self.client.journal

    def start(self, workflow: Workflow, workflow_id: str, input_json: str) -> None:
        """Queue the run's driver node; a worker picks it up at once."""
        run = RunRecord(
            run_id=workflow_id,
            workflow_name=workflow.workflow_type,
            workflow_version=VERSION,
            kind=KIND,
            status=RunStatus.RUNNING,
            input_json=input_json,
            created_at=time.time(),
        )
        self.client.queue.enqueue_run(run, [QueuedTask(DRIVER_KEY, 0)])

    def wait(self, run_id: str, timeout: float | None = None) -> object:
        return self.client.wait(run_id, timeout)

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        return self.client.cancel(run_id, reason)

    def wake(self, run_id: str) -> None:
        """Nothing to do: recording the signal already woke the run (same transaction)."""
