"""Start distributed runs and wait for their results without executing anything.

A :class:`Client` writes a run and all its task rows in one transaction
(roots ready at once) and notifies the workers; it learns that a run ended
from the ``taskloom_run_done`` notification the finishing worker sends in
the same transaction that records the end, then reads the result from the
journal. Nothing polls: a waiter sleeps until its run's notification (or a
reconnect of the LISTEN connection, after which it re-checks).

The client needs the workflow *definition* (to know its tasks, edges and
version) but never runs a task body.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import defaultdict
from types import TracebackType
from typing import Any

from taskloom.authoring.workflow import Workflow
from taskloom.errors import RunNotFoundError
from taskloom.execution.listener import Listener
from taskloom.execution.result import WorkflowResult
from taskloom.execution.submission import context_json, resolve_workflow
from taskloom.journal.pgconnect import with_schema
from taskloom.journal.postgres import PostgresJournal
from taskloom.journal.postgres_queue import QueuedTask, TaskQueue
from taskloom.journal.records import RunRecord, RunStatus
from taskloom.journal.urls import is_postgres_url, resolve_url
from taskloom.planning.dag import DagPlan


class RemoteRunHandle:
    """A run executed by workers: ask its status, wait for its result."""

    def __init__(self, client: Client, run_id: str) -> None:
        self._client = client
        self.run_id = run_id

    def status(self) -> str:
        """ "Running", "Completed", "Failed" or "Cancelled", as recorded now."""
        run = self._client.journal.get_run(self.run_id)
        return run.status if run is not None else "Unknown"

    def result(self, timeout: float | None = None) -> WorkflowResult:
        """Block until the run ends (``TimeoutError`` after ``timeout`` seconds)."""
        return self._client.result(self.run_id, timeout)

    async def result_async(self) -> WorkflowResult:
        return await asyncio.to_thread(self._client.result, self.run_id)

    def cancel(self) -> bool:
        """Cancelling distributed runs is not supported yet; always False."""
        return False

    def __repr__(self) -> str:
        return f"<RemoteRunHandle {self.run_id}>"


class Client:
    """Submits runs to the workers sharing a PostgreSQL database, and waits for results."""

    def __init__(self, url: str | None = None, *, schema: str | None = None) -> None:
        url = resolve_url(url)
        if not is_postgres_url(url):
            raise ValueError(
                f"a Client needs a postgresql:// database url, got {url!r}: only PostgreSQL has "
                "workers to execute runs elsewhere"
            )
        if schema is not None:
            url = with_schema(url, schema)
        self.journal = PostgresJournal(url, pool_size=2)
        self.url = url
        self.queue = TaskQueue(self.journal)
        self._lock = threading.Lock()
        self._waiters: dict[str, list[threading.Event]] = defaultdict(list)
        self._listener = Listener(
            self.journal.conninfo,
            [self.queue.done_channel],
            self._notified,
            on_reconnect=self._wake_all,
            name="taskloom-client-listen",
        )
        self._listener.start()
        self._closed = False

    # -- submitting ---------------------------------------------------------

    def submit(
        self, workflow: str | Workflow, context: Any = None, run_id: str | None = None
    ) -> str:
        """Record a run for the workers to execute; returns its id at once."""
        if self._closed:
            raise RuntimeError("this client is closed; create a new one")
        plan = DagPlan(resolve_workflow(workflow))
        run = RunRecord(
            run_id=run_id or uuid.uuid4().hex,
            workflow_name=plan.workflow_name,
            workflow_version=plan.workflow_version,
            kind=plan.kind,
            status=RunStatus.RUNNING,
            input_json=context_json(context),
            created_at=time.time(),
        )
        tasks = [QueuedTask(k, len(n.deps), n.priority) for k, n in plan.nodes.items()]
        self.queue.enqueue_run(run, tasks)
        return run.run_id

    def start(self, workflow: str | Workflow, context: Any = None) -> RemoteRunHandle:
        return RemoteRunHandle(self, self.submit(workflow, context))

    def execute(
        self, workflow: str | Workflow, context: Any = None, timeout: float | None = None
    ) -> WorkflowResult:
        """Submit a run and wait for its result."""
        return self.result(self.submit(workflow, context), timeout)

    # -- waiting ------------------------------------------------------------

    def result(self, run_id: str, timeout: float | None = None) -> WorkflowResult:
        """The result of a run, waiting for its ``run_done`` notification if needed."""
        event = threading.Event()
        with self._lock:
            self._waiters[run_id].append(event)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                # Registered before reading, so a notification cannot fall in between.
                run = self.journal.get_run(run_id)
                if run is None:
                    raise RunNotFoundError(f"no run with id {run_id!r} in {self.journal.url}")
                if run.status in RunStatus.TERMINAL:
                    return WorkflowResult.from_records(run, self.journal.get_tasks(run_id))
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"run {run_id} did not finish within {timeout} s")
                event.wait(remaining)
                event.clear()
        finally:
            with self._lock:
                waiters = self._waiters.get(run_id, [])
                if event in waiters:
                    waiters.remove(event)
                if not waiters:
                    self._waiters.pop(run_id, None)

    def _notified(self, _channel: str, run_id: str) -> None:
        with self._lock:
            for event in self._waiters.get(run_id, ()):
                event.set()

    def _wake_all(self) -> None:
        with self._lock:
            for events in self._waiters.values():
                for event in events:
                    event.set()

    # -- lifecycle ----------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._listener.stop()
        self._wake_all()
        self.journal.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
