"""Step runs executed by distributed workers: queueing them, from a client or a worker.

``steps.Client(db, execute=False)`` queues a run's single node (the
driver) for ``taskloom worker`` processes instead of driving it here. A
worker that imported the workflow's module claims the node like any task,
replays the journal and runs steps; a wait, a sleep or a child ends its
claim as ``Suspended`` with the wake-up time (none while only an event or
the child's end can wake it), so a waiting run holds no worker. ``send``
records the event and, in the same transaction, makes the suspended node
claimable and notifies the workers (see ``PostgresJournal.send_signal``),
so nothing here has to wake anything.

A step running on a worker starts a child the same way (:func:`queue_child`),
with the parent recorded on the child's run: the commit that ends the
child wakes the parent, and cancelling the parent cancels the child (see
:mod:`taskloom.journal.postgres_children`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from taskloom.distributed.client import shared_client
from taskloom.journal.postgres_children import ChildStart, enqueue_child
from taskloom.journal.queue_records import QueuedTask
from taskloom.journal.records import RunRecord, RunStatus
from taskloom.steps.journal import DRIVER_KEY, KIND, VERSION

if TYPE_CHECKING:
    from taskloom.distributed.client import Client
    from taskloom.journal.base import Journal
    from taskloom.journal.postgres_queue import TaskQueue
    from taskloom.steps.workflow import Workflow

#: The one queued task of a step run: its driver, ready at once.
_DRIVER = QueuedTask(DRIVER_KEY, 0)


class DistributedSteps:
    """What a step client and its handles need, backed by the workers' queue."""

    def __init__(self, db: str | None) -> None:
        self.client: Client = shared_client(db)

    @property
    def journal(self) -> Journal:
        return self.client.journal

    def start(self, workflow_type: str, workflow_id: str, input_json: str) -> None:
        """Queue the run's driver node; a worker picks it up at once."""
        self.client.queue.enqueue_run(_new_run(workflow_type, workflow_id, input_json), [_DRIVER])

    def wait(self, run_id: str, timeout: float | None = None) -> object:
        return self.client.wait(run_id, timeout)

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        return self.client.cancel(run_id, reason)

    def wake(self, run_id: str) -> None:
        """Nothing to do: recording the signal already woke the run (same transaction)."""


def queue_child(
    queue: TaskQueue, workflow: Workflow, child_id: str, input_json: str, parent_id: str
) -> ChildStart:
    """Queue child run ``child_id`` of ``parent_id`` unless it exists (one transaction)."""
    run = _new_run(workflow.workflow_type, child_id, input_json)
    return enqueue_child(queue, run, _DRIVER, parent_id)


def _new_run(workflow_type: str, workflow_id: str, input_json: str) -> RunRecord:
    return RunRecord(
        run_id=workflow_id,
        workflow_name=workflow_type,
        workflow_version=VERSION,
        kind=KIND,
        status=RunStatus.RUNNING,
        input_json=input_json,
        created_at=time.time(),
    )
