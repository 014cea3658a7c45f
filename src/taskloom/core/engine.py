"""The engine: one event-loop thread that runs every run of a runner.

It owns the pieces the scheduler needs -- the loop, the thread pool for sync
task bodies, the concurrency slots, the group-committing journal writer --
and the durable bookkeeping around runs: registering itself as a live
owner, heart-beating, and resuming runs whose owner died.

Every authoring style submits a :class:`~taskloom.core.plan.Plan`; the
engine never looks inside one. To resume a run after a crash it asks the
planner registered for the run's kind to rebuild the plan.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from taskloom.core import retrying, shapes, trace_hooks
from taskloom.core.attempt import Completions
from taskloom.core.deaths import death_limit
from taskloom.core.liveness import HOSTNAME, runner_alive
from taskloom.core.orphans import OrphanWatch
from taskloom.core.plan import Plan
from taskloom.core.result import WorkflowResult
from taskloom.core.scheduler import RunExecution
from taskloom.core.slots import SlotPool
from taskloom.core.styles import planner_for
from taskloom.core.writer import JournalWriter
from taskloom.errors import ValueRefusedError
from taskloom.journal.base import Journal
from taskloom.journal.records import (
    Batch,
    EventRecord,
    RunnerRecord,
    RunRecord,
    RunStatus,
    RunUpdate,
)
from taskloom.journal.urls import redact_url

logger = logging.getLogger("taskloom")


#: Engines of this process that are running (for retry/adopt to resume a run at once).
_live: weakref.WeakSet[Engine] = weakref.WeakSet()


def live_engines(url: str) -> list[Engine]:
    """The running engines of this process on the journal at ``url``."""
    return [e for e in list(_live) if e.journal.url == url and not e._closed]


class Engine:
    """Runs plans on a background event loop, recording everything in a journal."""

    def __init__(
        self,
        journal: Journal,
        *,
        max_concurrent_tasks: int = 4,
        workflow_timeout: float | None = None,
        task_timeout: float | None = None,
        enable_recovery: bool = True,
        recovery_interval: float = 1.0,
        heartbeat_interval: float = 3.0,
        owner_lease: float = 10.0,
        thread_pool_size: int | None = None,
        adopt_orphans: bool = False,
        max_process_deaths: int | None = None,
    ) -> None:
        """``max_process_deaths``: an attempt whose processes died this often fails
        instead of running again (None: ``$TASKLOOM_MAX_PROCESS_DEATHS``, else 3; 0: no
        limit); see :mod:`taskloom.core.deaths`."""
        self.journal = journal
        self.max_process_deaths = death_limit(max_process_deaths)
        self.workflow_timeout = workflow_timeout
        #: Default per-attempt timeout for tasks that set none (planners apply it).
        self.task_timeout = task_timeout
        self.enable_recovery = enable_recovery
        self.recovery_interval = recovery_interval
        self.heartbeat_interval = heartbeat_interval
        self.owner_lease = owner_lease
        self.runner_id = f"{HOSTNAME}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.slots = SlotPool(max_concurrent_tasks)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=thread_pool_size or max(32, 4 * max_concurrent_tasks),
            thread_name_prefix="taskloom-task",
        )
        self.loop = asyncio.new_event_loop()
        self.writer = JournalWriter(journal, self.loop, self._journal_failed)
        self.completions = Completions(self.loop, self.writer)
        self.active: dict[str, RunExecution] = {}
        self._closed = False
        self._unplannable: set[str] = set()
        #: Orphans at versions this process lacks: warned about, adopted if asked.
        self.orphans = OrphanWatch(self, adopt_orphans)
        self._timers: list[asyncio.TimerHandle] = []
        self._last_heartbeat = 0.0
        #: Signals up to this id have been seen by ``_wake_signalled``.
        self._signal_cursor: int | None = None
        self._thread = threading.Thread(target=self._run_loop, name="taskloom-engine", daemon=True)
        self._thread.start()
        _live.add(self)
        now = time.time()
        journal.register_runner(RunnerRecord(self.runner_id, HOSTNAME, os.getpid(), now, now))
        self.call(self._maintain).result()

    # -- threading plumbing -----------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn`` on the loop thread; the future holds its result."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        if self.on_loop_thread():
            run()
        else:
            self.loop.call_soon_threadsafe(run)
        return future

    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    # -- runs -------------------------------------------------------------

    def submit(self, plan: Plan, input_json: str, run_id: str | None = None) -> RunExecution:
        """Record a new run and start it. Safe from any thread but the loop's own."""
        if self._closed:
            raise RuntimeError("this runner has been shut down; create a new one")
        if self.on_loop_thread():
            raise RuntimeError(
                "cannot start a run and block from inside a task of the same runner; "
                "use the async API (execute_async / start) instead"
            )
        tracer = trace_hooks.tracing()
        parent = tracer.caller_context() if tracer is not None else None
        result: RunExecution = self.call(
            lambda: self.start_run(plan, input_json, run_id, trace_parent=parent)
        ).result()
        return result

    def start_run(
        self,
        plan: Plan,
        input_json: str,
        run_id: str | None = None,
        *,
        trace_parent: str | None = None,
    ) -> RunExecution:
        """Record a new run and start it, without waiting. Loop thread only.

        What ``submit`` does for other threads; a running workflow uses it to
        start another run (a child workflow) from inside the loop.
        ``trace_parent``: the caller's ``traceparent``, when tracing is on.
        """
        run = RunRecord(
            run_id=run_id or uuid.uuid4().hex,
            workflow_name=plan.workflow_name,
            workflow_version=plan.workflow_version,
            kind=plan.kind,
            status=RunStatus.RUNNING,
            input_json=input_json,
            created_at=time.time(),
            owner_id=self.runner_id,
        )
        execution = RunExecution(self, plan, run, workflow_timeout=self.workflow_timeout)
        shapes.record(self.journal, plan)
        records = [*execution.new_task_records(), *plan.initial_records(run.run_id)]
        self.journal.create_run(run, records)
        self._trace(execution, trace_parent, resumed=False)
        self.active[run.run_id] = execution
        logger.info("run %s of %r started", run.run_id, plan.workflow_name)
        execution.start()
        return execution

    def run_finished(self, execution: RunExecution) -> None:
        self.active.pop(execution.run_id, None)

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        """Cancel a run this engine is executing. False if it is not active here.

        The runs it started (a step workflow's children, and theirs) that
        are active here are cancelled with it, in the same loop turn, so
        their records are committed together with the parent's.
        """

        def do() -> bool:
            execution = self.active.get(run_id)
            if execution is None:
                return False
            self._cancel_tree(execution, reason, run_id)
            return True

        return bool(self.call(do).result())

    def _cancel_tree(self, execution: RunExecution, reason: str, root: str) -> None:
        if execution.finished:
            return
        children = execution.plan.child_runs()
        execution.cancel(
            reason if execution.run_id == root else f"{reason} (cancelled with run {root})"
        )
        for child_id in children:
            child = self.active.get(child_id)
            if child is not None:
                self._cancel_tree(child, reason, root)

    def wake(self, run_id: str) -> None:
        """Re-run the suspended nodes of a run active here (e.g. a signal arrived).

        A node running right now is marked instead: if it suspends, it runs
        again at once (it may have looked before the reason existed). A
        no-op for runs that are not active here. Any thread.
        """

        def do() -> None:
            execution = self.active.get(run_id)
            if execution is not None:
                for key in [*execution.suspended, *execution.running]:
                    execution.wake(key)

        self.call(do)

    def _wake_signalled(self) -> None:
        """Wake suspended runs that got a signal from another process since the last look.

        SQLite cannot notify another process, so an engine re-checks the
        signal inbox on its maintenance tick -- one indexed range query --
        and only while it has suspended runs. A signal sent from this
        process wakes its run at once (``wake``); one sent from elsewhere
        within one ``recovery_interval``.
        """
        if self._signal_cursor is None:
            self._signal_cursor = self.journal.latest_signal_id()
            return
        if not any(e.suspended for e in self.active.values()):
            return
        for signal_id, run_id in self.journal.signals_after(self._signal_cursor):
            self._signal_cursor = max(self._signal_cursor, signal_id)
            execution = self.active.get(run_id)
            if execution is not None:
                for key in list(execution.suspended):
                    execution.wake(key)

    def wait(self, run_id: str, timeout: float | None = None, poll: float = 0.05) -> WorkflowResult:
        """The result of a run, waiting for it to finish.

        A run executed here resolves through its future. A run executed by
        another process on the same database is read from the journal,
        polling every ``poll`` seconds (SQLite has no notifications).
        """
        execution = self.active.get(run_id)
        if execution is not None:
            return _result_within(execution, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            execution = self.active.get(run_id)
            if execution is not None:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                return _result_within(execution, remaining, timeout)
            run = self.journal.get_run(run_id)
            if run is None:
                from taskloom.errors import RunNotFoundError

                where = redact_url(self.journal.url)
                raise RunNotFoundError(f"no run with id {run_id!r} in {where}")
            if run.status in RunStatus.TERMINAL:
                return WorkflowResult.from_records(run, self.journal.get_tasks(run_id))
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout} s")
            time.sleep(poll)

    # -- ownership and recovery -------------------------------------------

    def _maintain(self) -> None:
        """Heartbeat and recovery, re-armed on a timer (never busy polling)."""
        if self._closed:
            return
        now = time.time()
        if now - self._last_heartbeat >= self.heartbeat_interval:
            self._last_heartbeat = now
            try:
                self.journal.heartbeat(self.runner_id, now)
            except Exception:
                logger.exception("taskloom heartbeat failed")
        if self.enable_recovery:
            try:
                self.recover()
            except Exception:
                logger.exception("taskloom recovery scan failed")
        try:
            self.orphans.carry_out_cancels()
        except Exception:
            logger.exception("taskloom cancel-request check failed")
        try:
            self._wake_signalled()
        except NotImplementedError:
            pass  # a backend without a signal inbox: nothing can be signalled
        except Exception:
            logger.exception("taskloom signal check failed")
        interval = self.recovery_interval if self.enable_recovery else self.heartbeat_interval
        self._timers = [self.loop.call_later(interval, self._maintain)]

    def recover(self) -> list[str]:
        """Resume unfinished runs whose owner is gone; returns their ids. Loop thread only."""
        resumed: list[str] = []
        # Runs first, runners second: a runner registers before it creates a
        # run, so every owner of a run read here is in the runner list.
        unfinished = self.journal.unfinished_runs()
        runners = {r.runner_id: r for r in self.journal.list_runners()}
        for run in unfinished:
            if run.run_id in self.active or run.owner_id == self.runner_id:
                continue
            owner = runners.get(run.owner_id) if run.owner_id else None
            if owner is not None and runner_alive(owner, self.owner_lease):
                continue
            planner = planner_for(run.kind)
            try:
                plan = planner(run, self) if planner is not None else None
            except ValueRefusedError as exc:
                self._refuse(run, exc)
                continue
            adopted = plan is None and (plan := self.orphans.unplannable(run)) is not None
            if plan is None:
                if run.run_id not in self._unplannable:
                    self._unplannable.add(run.run_id)
                    logger.info(
                        "run %s of %r (version %s) is orphaned but this process does not "
                        "define that workflow version; leaving it for another runner",
                        run.run_id,
                        run.workflow_name,
                        run.workflow_version,
                    )
                continue
            if not adopted and not self.journal.claim_run(run.run_id, self.runner_id, run.owner_id):
                continue
            # A run recorded with no owner was submitted for workers, not orphaned.
            why = "recorded for workers" if run.owner_id is None else "after its owner died"
            run.owner_id = self.runner_id
            records = self.journal.get_tasks(run.run_id)
            limit = retrying.time_limit_since_retry(self.journal, run, self.workflow_timeout)
            execution = RunExecution(self, plan, run, records, workflow_timeout=limit)
            self.active[run.run_id] = execution
            if trace_hooks.tracing() is not None:
                recorded = _recorded_trace(self.journal.get_events(run.run_id))
                self._trace(execution, recorded, resumed=True)
            self.writer.add(
                event=EventRecord(
                    run.run_id,
                    "run_resumed",
                    time.time(),
                    None,
                    json.dumps({"runner": self.runner_id}),
                )
            )
            logger.info("taking run %s of %r %s", run.run_id, run.workflow_name, why)
            execution.start(recovering=True)
            resumed.append(run.run_id)
        self.orphans.report()
        return resumed

    def adopt(self, run: RunRecord, plan: Plan) -> RunExecution | None:
        """Start a run recorded unowned by a style (a reactor's firing). Loop thread only.

        The run's rows were created in the style's own transaction; this
        runner claims it (compare-and-set, as recovery does) and starts it,
        or returns ``None`` if another runner of the database claimed it first.
        """
        if run.run_id in self.active or not self.journal.claim_run(
            run.run_id, self.runner_id, None
        ):
            return None
        run.owner_id = self.runner_id
        records = self.journal.get_tasks(run.run_id)
        execution = RunExecution(self, plan, run, records, workflow_timeout=self.workflow_timeout)
        self.active[run.run_id] = execution
        self._trace(execution, None, resumed=False)
        logger.info("run %s of %r started", run.run_id, plan.workflow_name)
        execution.start()
        return execution

    def _refuse(self, run: RunRecord, exc: ValueRefusedError) -> None:
        """A run whose recorded inputs were refused fails: nothing of it is loaded or run."""
        if not self.journal.claim_run(run.run_id, self.runner_id, run.owner_id):
            return
        now = time.time()
        logger.error("run %s of %r failed: %s", run.run_id, run.workflow_name, exc)
        self.writer.add(
            run=RunUpdate(run.run_id, RunStatus.FAILED, None, str(exc), now),
            event=EventRecord(
                run.run_id, "run_finished", now, None, json.dumps({"status": RunStatus.FAILED})
            ),
        )

    def _trace(self, execution: RunExecution, parent: str | None, *, resumed: bool) -> None:
        """Open the run's span (tracing on) and record its context with the run."""
        tracer = trace_hooks.tracing()
        if tracer is None:
            return
        run = execution.run
        scope = tracer.start_run(run.run_id, run.workflow_name, run.kind, parent, resumed)
        if scope is None:
            return
        execution.trace = scope
        if not resumed:  # a resumed run keeps the context it was started with
            data = json.dumps({"traceparent": tracer.traceparent(scope)})
            self.writer.add(
                event=EventRecord(run.run_id, trace_hooks.TRACE_EVENT, time.time(), None, data)
            )

    def _journal_failed(self, exc: BaseException, batch: Batch) -> None:
        run_ids = {t.run_id for t in batch.tasks} | {r.run_id for r in batch.runs}
        run_ids |= {e.run_id for e in batch.events}
        for run_id in run_ids:
            execution = self.active.get(run_id)
            if execution is not None:
                execution.fail_unrecorded(exc)

    # -- shutdown ---------------------------------------------------------

    async def _cancel_leftovers(self) -> None:
        current = asyncio.current_task()
        leftovers = [t for t in asyncio.all_tasks() if t is not current]
        for leftover in leftovers:
            leftover.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=5)
        # Whatever they recorded while unwinding is kept like any other write.
        self.writer.flush()

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop taking runs, let active ones finish (up to ``timeout``), release everything.

        Runs still unfinished stay recorded as running; once this runner has
        unregistered, the next runner on the database resumes them.
        """
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        if wait:
            futures = [e.future for e in list(self.active.values())]
            concurrent.futures.wait(futures, timeout=timeout)

        def stop() -> None:
            for timer in self._timers:
                timer.cancel()
            for execution in list(self.active.values()):
                for running in list(execution.running.values()):
                    running.abandon()
            self.writer.flush()

        try:
            self.call(stop).result(timeout=10)
            # Let cancelled coroutines (async bodies, step drivers) unwind on
            # a running loop now, instead of being closed half-way later by
            # the garbage collector on a stopped one.
            asyncio.run_coroutine_threadsafe(self._cancel_leftovers(), self.loop).result(10)
        except Exception:
            logger.exception("taskloom shutdown: could not stop cleanly")
        try:
            self.journal.unregister_runner(self.runner_id)
        except Exception:
            logger.exception("taskloom shutdown: could not unregister")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.journal.close()


def _result_within(
    execution: RunExecution, timeout: float | None, asked: float | None = None
) -> WorkflowResult:
    """The run's result, or a TimeoutError that names the run and the wait."""
    try:
        return execution.future.result(timeout)
    except TimeoutError:
        if execution.future.done():
            raise  # the run itself ended with this error
        waited = asked if asked is not None else timeout
        raise TimeoutError(
            f"run {execution.run_id} of {execution.plan.workflow_name!r} did not finish "
            f"within {waited:g} s; it is still running (wait again, or cancel it)"
        ) from None


def _recorded_trace(events: list[EventRecord]) -> str | None:
    """The ``traceparent`` a run was started with (its ``trace_context`` event)."""
    for event in events:
        if event.kind == trace_hooks.TRACE_EVENT and event.data_json:
            found = json.loads(event.data_json).get("traceparent")
            return str(found) if found else None
    return None
