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
import atexit
import json
import threading
import time
import uuid
from collections import defaultdict
from types import TracebackType
from typing import Any

from taskloom.core import shapes, styles, trace_hooks
from taskloom.core.plan import Plan
from taskloom.core.result import WorkflowResult
from taskloom.core.time_limits import check_timeout
from taskloom.distributed.listener import Listener
from taskloom.errors import RunNotFoundError
from taskloom.journal.pgconnect import with_schema
from taskloom.journal.postgres import PostgresJournal
from taskloom.journal.postgres_queue import TaskQueue
from taskloom.journal.queue_records import QueuedTask
from taskloom.journal.records import RunRecord, RunStatus, TaskRecord
from taskloom.journal.urls import is_postgres_url, redact_url, resolve_url


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

    def cancel(self, reason: str = "cancelled by request") -> bool:
        """Cancel the run; False if it had already ended. See :meth:`Client.cancel`."""
        return self._client.cancel(self.run_id, reason)

    def __repr__(self) -> str:
        return f"<RemoteRunHandle {self.run_id}>"


class Client:
    """Submits runs to the workers sharing a PostgreSQL database, and waits for results."""

    def __init__(self, url: str | None = None, *, schema: str | None = None) -> None:
        url = resolve_url(url)
        if not is_postgres_url(url):
            raise ValueError(
                f"a Client needs a postgresql:// database url, got {redact_url(url)!r}: "
                "only PostgreSQL has "
                "workers to execute runs elsewhere"
            )
        if schema is not None:
            url = with_schema(url, schema)
        self.journal = PostgresJournal(url, pool_size=2)
        self.url = url
        self.queue = TaskQueue(self.journal)
        self._lock = threading.Lock()
        self._waiters: dict[str, list[threading.Event]] = defaultdict(list)
        #: Finished runs' records carried by their notification, for their waiters.
        self._payloads: dict[str, str] = {}
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
        self,
        workflow: Any,
        context: Any = None,
        run_id: str | None = None,
        *,
        workflow_timeout: float | None = None,
        task_timeout: float | None = None,
    ) -> str:
        """Record a run for the workers to execute; returns its id at once.

        ``workflow_timeout``: the workers stop the run this many seconds after
        it is recorded (its deadline, on the database's clock): it ends
        ``Failed`` with ``workflow 'NAME' timed out after N s``, its
        unfinished tasks ``Cancelled`` -- as a local runner's
        ``workflow_timeout_seconds``. ``task_timeout``: the per-attempt
        timeout of its tasks that set none (``TaskTimeoutError``, retried by
        the task's policy), as ``task_timeout_seconds``; without it a worker's
        own ``task_timeout`` applies.
        """
        plan, input_json = styles.submitter("dag")(workflow, context)
        return self.submit_plan(
            plan,
            input_json,
            run_id,
            workflow_timeout=workflow_timeout,
            task_timeout=task_timeout,
        )

    def submit_plan(
        self,
        plan: Plan,
        input_json: str,
        run_id: str | None = None,
        *,
        workflow_timeout: float | None = None,
        task_timeout: float | None = None,
    ) -> str:
        """Record a run of any plan for the workers (what every ``submit`` comes down to).

        The time limits mean what they mean for :meth:`submit`, for DAG and
        flow runs; step runs refuse them (their steps have timeouts).
        """
        if self._closed:
            raise RuntimeError("this client is closed; create a new one")
        workflow_timeout = check_timeout("workflow_timeout", workflow_timeout)
        task_timeout = check_timeout("task_timeout", task_timeout)
        if workflow_timeout is not None or task_timeout is not None:
            self._check_limits_apply(plan)
        run = RunRecord(
            run_id=run_id or uuid.uuid4().hex,
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
                k,
                len(n.deps),
                n.priority,
                n.group,
                limits.get(n.group) if n.group is not None else None,
            )
            for k, n in plan.nodes.items()
        ]
        run_limit: int | None = getattr(plan, "max_concurrency", None)
        shapes.record(self.journal, plan)
        tracer = trace_hooks.tracing()
        trace_context = (
            tracer.submit_context(run.run_id, run.workflow_name, run.kind)
            if tracer is not None
            else None
        )
        self.queue.enqueue_run(
            run,
            tasks,
            run_limit,
            workflow_timeout=workflow_timeout,
            task_timeout=task_timeout,
            trace_context=trace_context,
        )
        return run.run_id

    @staticmethod
    def _check_limits_apply(plan: Plan) -> None:
        """Time limits are for DAG and flow runs: a step run stopped by a deadline would
        leave its child runs, and a parent waiting for it, behind."""
        if not plan.accepts_time_limits:
            raise ValueError(
                f"step workflow {plan.workflow_name!r}: workflow_timeout/task_timeout are not "
                "supported for step runs; give the steps a timeout (@wf.step(timeout=...))"
            )

    def start_flow(
        self,
        flow: Any,
        *args: Any,
        failure_policy: str = "fail_fast",
        max_concurrency: int | None = None,
        workflow_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Submit a ``@flow`` run (a flow or its name) for the workers; returns its
        ``RemoteFlowHandle`` (see :mod:`taskloom.dataflow.remote`).

        ``workflow_timeout``: as for :meth:`submit`; the handle's ``result()``
        then raises ``TaskloomError`` naming the timeout.
        """
        return styles.starter("flow")(
            self, flow, args, kwargs, failure_policy, max_concurrency, workflow_timeout
        )

    def start(
        self,
        workflow: Any,
        context: Any = None,
        *,
        workflow_timeout: float | None = None,
        task_timeout: float | None = None,
    ) -> RemoteRunHandle:
        """:meth:`submit`, returning a handle on the run."""
        run_id = self.submit(
            workflow, context, workflow_timeout=workflow_timeout, task_timeout=task_timeout
        )
        return RemoteRunHandle(self, run_id)

    def execute(
        self,
        workflow: Any,
        context: Any = None,
        timeout: float | None = None,
        *,
        workflow_timeout: float | None = None,
        task_timeout: float | None = None,
    ) -> WorkflowResult:
        """Submit a run and wait for its result.

        ``timeout`` bounds the wait (``TimeoutError``; the run goes on);
        ``workflow_timeout`` and ``task_timeout`` limit the run itself (see
        :meth:`submit`).

        The waiter is registered under the new run's id before the run is
        submitted, so the notification cannot be missed and nothing needs to
        be read until it arrives: one read (run and tasks, pipelined) follows.
        """
        run_id = uuid.uuid4().hex
        event = self._register(run_id)
        try:
            self.submit(
                workflow,
                context,
                run_id,
                workflow_timeout=workflow_timeout,
                task_timeout=task_timeout,
            )
            finished = self._wait(run_id, event, timeout, check_first=False)
        finally:
            self._unregister(run_id, event)
        return WorkflowResult.from_records(*finished)

    # -- waiting ------------------------------------------------------------

    def result(self, run_id: str, timeout: float | None = None) -> WorkflowResult:
        """The result of a run, waiting for its ``run_done`` notification if needed."""
        event = self._register(run_id)
        try:
            return WorkflowResult.from_records(*self._wait(run_id, event, timeout))
        finally:
            self._unregister(run_id, event)

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        """Cancel a distributed run: it ends as Cancelled, its unfinished tasks too.

        Workers still running one of its tasks learn it when they complete:
        the completion is rejected (the task's fence moved on). The run's
        unfinished child step runs (and theirs) are cancelled in the same
        transaction. False if the run had already ended.
        """
        return self.queue.cancel_run(run_id, reason)

    def wait(self, run_id: str, timeout: float | None = None) -> RunRecord:
        """The run's record once it has ended, waiting for its ``run_done`` notification."""
        event = self._register(run_id)
        try:
            return self._wait(run_id, event, timeout, with_tasks=False)[0]
        finally:
            self._unregister(run_id, event)

    def finished(
        self, run_id: str, timeout: float | None = None
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """:meth:`wait`, plus the run's task rows read in the same round trip."""
        event = self._register(run_id)
        try:
            return self._wait(run_id, event, timeout)
        finally:
            self._unregister(run_id, event)

    def _register(self, run_id: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._waiters[run_id].append(event)
        return event

    def _unregister(self, run_id: str, event: threading.Event) -> None:
        with self._lock:
            waiters = self._waiters.get(run_id, [])
            if event in waiters:
                waiters.remove(event)
            if not waiters:
                self._waiters.pop(run_id, None)
                self._payloads.pop(run_id, None)

    def _wait(
        self,
        run_id: str,
        event: threading.Event,
        timeout: float | None,
        *,
        check_first: bool = True,
        with_tasks: bool = True,
    ) -> tuple[RunRecord, list[TaskRecord]]:
        """Wait on a registered ``event`` until the run has ended; its record (and tasks).

        ``check_first=False`` when the run was submitted after ``event`` was
        registered: its end cannot have been missed, so the first read waits
        for the notification.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not check_first:
            event.wait(timeout)
            event.clear()
        while True:
            carried = self._carried(run_id)
            run, tasks = carried if carried is not None else self._read(run_id, with_tasks)
            if run is None:
                where = redact_url(self.journal.url)
                raise RunNotFoundError(f"no run with id {run_id!r} in {where}")
            if run.status in RunStatus.TERMINAL:
                return run, tasks
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"run {run_id} did not finish within {timeout} s")
            event.wait(remaining)
            event.clear()

    def _read(self, run_id: str, with_tasks: bool) -> tuple[RunRecord | None, list[TaskRecord]]:
        """The run and (if wanted, in the same round trip) its tasks."""
        if not with_tasks:
            return self.journal.get_run(run_id), []
        return self.journal.get_run_and_tasks(run_id)

    def _carried(self, run_id: str) -> tuple[RunRecord, list[TaskRecord]] | None:
        """The run and its tasks as its ``run_done`` notification carried them, if it did."""
        with self._lock:
            body = self._payloads.pop(run_id, None)
        if body is None:
            return None
        run_row, task_rows = json.loads(body)
        run = RunRecord(*run_row)
        run.created_at = float(run.created_at)
        run.ended_at = _float(run.ended_at)
        tasks = [TaskRecord(*row) for row in task_rows or ()]
        for task in tasks:
            task.next_retry_at = _float(task.next_retry_at)
            task.started_at = _float(task.started_at)
            task.ended_at = _float(task.ended_at)
        return run, tasks

    def _notified(self, _channel: str, payload: str) -> None:
        # "<run_id>", "<run_id> <status>" or "<run_id> <status> <records>": the
        # records (JSON of the run's get_run and get_tasks rows, when they fit
        # in a notification) spare a waiter its read.
        run_id, _, rest = payload.partition(" ")
        body = rest.partition(" ")[2]
        with self._lock:
            waiters = self._waiters.get(run_id, ())
            if waiters and body:
                self._payloads[run_id] = body
            for event in waiters:
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


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


_shared: dict[str, Client] = {}
_shared_lock = threading.Lock()


def shared_client(db: str | None) -> Client:
    """The process-wide client of a PostgreSQL database, opened on first use.

    ``flow.submit`` and ``steps.Client(db, execute=False)`` use it, so a
    process holds one LISTEN connection and one small pool per database.
    """
    url = resolve_url(db)
    if not is_postgres_url(url):
        raise ValueError(
            f"distributed execution needs a postgresql:// database url (db= or "
            f"$TASKLOOM_DATABASE_URL), got {redact_url(url)!r}: only PostgreSQL has workers"
        )
    with _shared_lock:
        client = _shared.get(url)
        if client is None or client._closed:
            client = Client(url)
            _shared[url] = client
        return client


def close_shared_clients() -> None:
    """Close the process-wide clients (their LISTEN threads and pools)."""
    with _shared_lock:
        clients = list(_shared.values())
        _shared.clear()
    for client in clients:
        client.close()


atexit.register(close_shared_clients)
