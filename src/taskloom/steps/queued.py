"""Submitting step runs for workers on a local journal (``Client(db, execute=False)``).

The grctl model: a client records a run, a worker executes it. On SQLite
the run is recorded with no owner, which is exactly what an orphaned run
looks like, so any engine on the database that defines the workflow -- a
:class:`~taskloom.steps.worker.Worker` -- claims it by the usual recovery:
at once in this process, within its ``recovery_interval`` (1 s) in another.
Handles follow the run through the journal and, when a worker of this
process executes it, through that worker's engine.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from taskloom.errors import RunNotFoundError
from taskloom.journal.records import RunRecord, RunStatus, TaskRecord, TaskStatus
from taskloom.journal.urls import open_journal, resolve_url
from taskloom.steps.journal import DRIVER_KEY, KIND, VERSION
from taskloom.steps.worker import check_shared, claim_now, local_engines

if TYPE_CHECKING:
    from taskloom.journal.base import Journal

_lock = threading.Lock()
#: One journal per database for the submitting clients of this process.
_journals: dict[str, Journal] = {}

#: How often a handle re-reads a run executed by another process (SQLite has no notifications).
POLL = 0.05


class LocalQueue:
    """What a step client needs when workers, not this client, execute its runs."""

    def __init__(self, db: str | None) -> None:
        self.url = resolve_url(db)
        check_shared(self.url, "Client(..., execute=False)")
        with _lock:
            journal = _journals.get(self.url)
            if journal is None:
                journal = _journals[self.url] = open_journal(self.url)
        self._journal = journal

    @property
    def journal(self) -> Journal:
        return self._journal

    def start(self, workflow_type: str, workflow_id: str, input_json: str) -> None:
        """Record the run, unowned, and let a worker of this process claim it now."""
        run = RunRecord(
            run_id=workflow_id,
            workflow_name=workflow_type,
            workflow_version=VERSION,
            kind=KIND,
            status=RunStatus.RUNNING,
            input_json=input_json,
            created_at=time.time(),
        )
        self._journal.create_run(run, [TaskRecord(workflow_id, DRIVER_KEY, TaskStatus.PENDING)])
        claim_now(self.url)

    def wait(self, run_id: str, timeout: float | None = None) -> object:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for engine in local_engines(self.url):
                if run_id in engine.active:
                    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                    return engine.wait(run_id, remaining)
            run = self._journal.get_run(run_id)
            if run is None:
                raise RunNotFoundError(f"no workflow with id {run_id!r}")
            if run.status in RunStatus.TERMINAL:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {run_id!r} did not finish within {timeout} s")
            time.sleep(POLL)

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        return any(engine.cancel(run_id, reason) for engine in local_engines(self.url))

    def wake(self, run_id: str) -> None:
        for engine in local_engines(self.url):
            engine.wake(run_id)
