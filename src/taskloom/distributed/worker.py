"""A distributed worker: claims ready tasks of shared runs from PostgreSQL and runs them.

Many workers on many machines share the runs started by clients
(``Client``/``DefaultRunner(url, execute=False)``), task by task:

* **Claiming**: one ``UPDATE ... FOR UPDATE SKIP LOCKED`` statement takes
  up to the number of free slots, only of the workflow versions this worker
  registered, so a worker never runs code it does not have.
* **Waking**: a LISTEN connection pokes the loop when tasks become ready;
  pokes are coalesced into one claim per loop turn. A slow poll (default
  every second) is only the fallback that also picks up expired leases.
* **Leases and fencing**: a claim holds the task for ``lease`` seconds,
  renewed by a heartbeat every ``lease / 3``. A dead (or frozen) worker's
  tasks are claimed again once the lease runs out; every claim bumps the
  task's fence, and a completion is recorded only under the fence it was
  claimed with, so a late completion from a worker that lost its lease is
  rejected (and logged) instead of overwriting the new owner's.
* **Group commit**: every completion of one loop turn is recorded in one
  transaction, together with the release of dependents, the end of runs
  and the notifications -- and the task rows a dynamic ``fan_out`` adds
  when its upstream completes (:mod:`taskloom.distributed.growth`). The
  transaction itself is :mod:`taskloom.distributed.batch_commit`'s.
* **Draining**: :meth:`Worker.request_stop` (SIGTERM in the CLI) stops
  claiming; running tasks finish and are recorded, then the worker exits.
* **Time limits**: a run's default task timeout (recorded by its client)
  applies to its tasks that set none; a run past its deadline is stopped
  (:mod:`taskloom.distributed.deadlines`).

Readiness and run outcomes are decided by :mod:`taskloom.core.decisions`,
the same code the local scheduler uses, so a run means the same thing
wherever it executes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from taskloom.core import current, events, styles, trace_hooks
from taskloom.core.attempt import Attempt
from taskloom.core.callbacks import run_isolated
from taskloom.core.deaths import death_limit
from taskloom.core.handle import TaskHandle
from taskloom.core.liveness import HOSTNAME
from taskloom.core.plan import Invocation, PlanNode
from taskloom.core.retention import Retention
from taskloom.core.slots import SlotLease, SlotPool
from taskloom.core.trace_hooks import end_attempt_span
from taskloom.core.writer import JournalWriter
from taskloom.distributed.attempt_results import AttemptResults
from taskloom.distributed.batch_commit import BatchCommit, Pending
from taskloom.distributed.claim_decisions import ClaimDecisions
from taskloom.distributed.deadlines import RunDeadlines
from taskloom.distributed.listener import Listener
from taskloom.distributed.orphans import WorkerOrphans
from taskloom.distributed.run_plans import RunPlans, Shape
from taskloom.journal.postgres import PostgresJournal
from taskloom.journal.postgres_fenced import write_fenced
from taskloom.journal.postgres_queue import TaskQueue
from taskloom.journal.postgres_run_end import STOP_PREFIX
from taskloom.journal.postgres_vacuum import QueueVacuum
from taskloom.journal.queue_records import ClaimedTask, FinishedCount
from taskloom.journal.records import Batch, RunnerRecord
from taskloom.journal.urls import is_postgres_url, redact_url, resolve_url

logger = logging.getLogger("taskloom")


class Worker(ClaimDecisions, AttemptResults):
    """Executes the tasks of distributed runs for the workflows it registered."""

    def __init__(
        self,
        url: str | None = None,
        *,
        workflows: Sequence[Any] | None = None,
        flows: Sequence[Any] | None = None,
        steps: bool = True,
        concurrency: int = 8,
        lease: float = 10.0,
        poll_interval: float = 1.0,
        task_timeout: float | None = None,
        thread_pool_size: int | None = None,
        worker_id: str | None = None,
        vacuum: bool = True,
        retention: float | None = None,
        adopt_orphans: bool = False,
        max_process_deaths: int | None = None,
    ) -> None:
        """``workflows``: the DAG workflows (or names) to serve, default every registered
        one; ``flows``: the ``@flow``s (or names), default every defined one; ``steps``:
        serve every defined step workflow type. ``vacuum``: VACUUM the queue tables when
        their dead rows pile up (see :mod:`taskloom.journal.postgres_vacuum`); False
        leaves it to autovacuum. ``retention``: delete runs that ended more than this
        many seconds ago, hourly (:mod:`taskloom.core.retention`); None keeps them.
        ``adopt_orphans``: adopt distributed runs of a served workflow left at another
        version when they are compatible (docs/deploys.md). ``max_process_deaths``: a
        task whose lease expired (its worker died or froze) this many times in one attempt
        fails with ``ProcessDiedError`` instead of running again (None:
        ``$TASKLOOM_MAX_PROCESS_DEATHS``, else 3; 0: no limit; see
        :mod:`taskloom.core.deaths`)."""
        url = resolve_url(url)
        if not is_postgres_url(url):
            raise ValueError(
                f"a worker needs a postgresql:// database url, got {redact_url(url)!r}: "
                "workers share "
                "runs through PostgreSQL (a SQLite run is executed by the runner that starts it)"
            )
        if not lease > 0:
            raise ValueError(f"lease={lease!r}: give a positive number of seconds")
        self.lease = float(lease)
        self.max_process_deaths = death_limit(max_process_deaths)
        self.poll_interval = float(poll_interval)
        self.worker_id = worker_id or f"{HOSTNAME}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        #: Default per-attempt timeout of DAG tasks that set none, for runs whose client
        #: recorded no default of their own (applied when an attempt is launched).
        self.task_timeout = task_timeout
        static, per_run = styles.served({"workflows": workflows, "flows": flows, "steps": steps})
        if not static and not per_run:
            raise ValueError(
                "this worker has no workflows to run: define or import them before starting it "
                "(taskloom worker --import MODULE)"
            )
        self.journal = PostgresJournal(url, pool_size=2)
        self.queue = TaskQueue(self.journal)
        self.plans = RunPlans(static, per_run, self)
        self.slots = SlotPool(concurrency)
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=thread_pool_size or max(32, 4 * concurrency),
            thread_name_prefix="taskloom-task",
        )
        self.loop = asyncio.new_event_loop()
        #: Step runs record their steps and operations through it (as on an engine).
        self.writer = JournalWriter(
            self.journal, self.loop, self._writer_failed, write=self._write_under_claims
        )
        self.running: dict[tuple[str, str], Attempt] = {}
        self._claims: dict[tuple[str, str], tuple[ClaimedTask, Shape]] = {}
        #: Recent runs' inputs, to compute a run's outcome before the commit that ends it.
        self._inputs: OrderedDict[str, str] = OrderedDict()
        #: Records the batches of completions (the group commit).
        self.commits = BatchCommit(self.queue, self.plans, self._inputs, self.worker_id)
        self.completed = 0
        #: Completions fenced off (their claim had expired, or their run was stopped).
        self.rejected = 0
        #: Claims of rows whose previous owner's lease had expired.
        self.reclaimed = 0
        #: Claim statements run and the seconds they took (for metrics).
        self.claims = 0
        self.claim_seconds = 0.0
        #: When each running attempt started, and its number (lifecycle events only).
        self._started: dict[tuple[str, str], tuple[float, int]] = {}
        self._traces: OrderedDict[str, str | None] = OrderedDict()
        self._pending: list[Pending] = []
        self._flush_scheduled = False
        self._claim_scheduled = False
        self._draining = False
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._callbacks: set[asyncio.Future[Any]] = set()
        self._stopped = threading.Event()
        self._listener = Listener(
            self.journal.conninfo,
            [self.queue.ready_channel],
            self._notified,
            on_reconnect=self._poke_threadsafe,
            name="taskloom-worker-listen",
        )
        self._thread: threading.Thread | None = None
        self.vacuum = QueueVacuum(self.journal) if vacuum else None
        self.retention = Retention(self.journal, retention) if retention is not None else None
        self._workflow_keys = self.plans.claim_keys
        #: Only flows have concurrency limits: other workers never run the limited claim.
        self._limited = any(k.startswith("flow:") for k in self._workflow_keys)
        #: Warns about runs of the workflows served here left at other versions.
        self.orphans = WorkerOrphans(
            self.journal,
            [(p.kind, p.workflow_name, p.workflow_version) for p in static] + list(per_run),
            self.lease,
            adopt=self if adopt_orphans else None,
        )
        self.deadlines = RunDeadlines(
            self.queue, self.loop, self._workflow_keys, self._finish_stopped, self._drop_run
        )

    def _write_under_claims(self, batch: Batch) -> None:
        """Step rows are written only under claims this worker still holds (see
        :mod:`taskloom.journal.postgres_fenced`). Loop thread, as every commit.

        Rows of a run this worker no longer runs at all are left out: what an
        attempt queued is flushed before its claim is let go (``_attempt_done``),
        so these trail an attempt given up here (its run was stopped, or its
        rows could not be written), which must record nothing more.
        """
        held = {run_id for run_id, _ in self._claims}
        runs = {t.run_id for t in batch.tasks} | {e.run_id for e in batch.events}
        if not runs.union(r.run_id for r in batch.runs) <= held:
            batch = Batch(
                [t for t in batch.tasks if t.run_id in held],
                [e for e in batch.events if e.run_id in held],
                [r for r in batch.runs if r.run_id in held],
            )
        claims = [(run_id, key, c.fence) for (run_id, key), (c, _) in self._claims.items()]
        write_fenced(self.journal, batch, self.worker_id, claims)

    @property
    def workflows(self) -> list[str]:
        """The workflow keys (``name@version``, ``flow:name@version``) this worker claims."""
        return self.plans.claim_keys

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Worker:
        """Run the worker on a background thread; returns at once."""
        self._listener.start()
        if self.vacuum is not None:
            self.vacuum.start()
        if self.retention is not None:
            self.retention.start()
        self._thread = threading.Thread(target=self._run_loop, name="taskloom-worker", daemon=True)
        self._thread.start()
        self.loop.call_soon_threadsafe(self._begin)
        logger.info(
            "taskloom worker %s started: %d slot(s), lease %.1f s, vacuum %s, workflows %s",
            self.worker_id,
            self.slots.capacity,
            self.lease,
            "on" if self.vacuum is not None else "off",
            ", ".join(k[: k.index("@") + 9] for k in self.workflows),
        )
        return self

    def run(self) -> None:
        """Run until stopped (:meth:`request_stop`, or SIGTERM via the CLI)."""
        if self._thread is None:
            self.start()
        self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker has drained and stopped; False on timeout."""
        # Short waits keep the main thread responsive to signals.
        deadline = None if timeout is None else self.loop.time() + timeout
        while not self._stopped.wait(0.2):
            if deadline is not None and self.loop.time() >= deadline:
                return False
        return True

    def request_stop(self) -> None:
        """Stop claiming; exit once running tasks are recorded. Safe from signal handlers."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._begin_drain)

    def stop(self, timeout: float | None = None) -> None:
        """Drain and stop, waiting for it."""
        self.request_stop()
        self.wait(timeout)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self._listener.stop()
            if self.vacuum is not None:
                self.vacuum.stop()
            if self.retention is not None:
                self.retention.stop()
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.queue.close()
            self.journal.close()
            self.loop.close()
            self._stopped.set()

    def _begin(self) -> None:
        self._announce("register")
        self._heartbeat()
        self._poll()

    def _announce(self, what: str) -> None:
        """Keep this worker's row in ``runners`` (what dashboards list as live workers).

        Workers own no runs, so the row never makes a run look owned; a failure
        here is logged and the worker goes on.
        """
        now = time.time()
        try:
            if what == "register":
                record = RunnerRecord(self.worker_id, HOSTNAME, os.getpid(), now, now)
                self.journal.register_runner(record)
            elif what == "heartbeat":
                self.journal.heartbeat(self.worker_id, now)
            else:
                self.journal.unregister_runner(self.worker_id)
        except Exception:
            logger.exception("taskloom worker %s could not %s itself", self.worker_id, what)

    def _begin_drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        logger.info(
            "taskloom worker %s draining: %d task(s) still running",
            self.worker_id,
            len(self.running),
        )
        poll = self._timers.pop("poll", None)
        if poll is not None:
            poll.cancel()
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self._draining and not self.running and not self._pending and not self._callbacks:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            self.deadlines.close()
            self._announce("unregister")
            logger.info(
                "taskloom worker %s stopped: %d task(s) recorded, %d late completion(s) rejected",
                self.worker_id,
                self.completed,
                self.rejected,
            )
            self.loop.stop()

    # -- waking and claiming ------------------------------------------------

    def _poke_threadsafe(self) -> None:
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                self.loop.call_soon_threadsafe(self._poke)

    def _notified(self, _channel: str, payload: str) -> None:
        """A wake-up (claim), or a run stopped elsewhere (drop what runs of it here)."""
        if payload.startswith(STOP_PREFIX):
            run_id = payload[len(STOP_PREFIX) :]
            if not self.loop.is_closed():
                with contextlib.suppress(RuntimeError):  # closed between check and call
                    self.loop.call_soon_threadsafe(self._run_stopped, run_id)
            return
        self._poke_threadsafe()

    def _run_stopped(self, run_id: str) -> None:
        """Another process cancelled or stopped the run: its attempts here are abandoned
        (their completions would be rejected anyway) and their slots given back."""
        running = sum(1 for key in self.running if key[0] == run_id)
        if running:
            logger.info(
                "run %s was stopped: abandoning its %d running task(s) here", run_id, running
            )
        self._drop_run(run_id)

    def _poke(self) -> None:
        """Ask for one claim this loop turn, however many wake-ups arrive."""
        if not self._claim_scheduled and not self._draining:
            self._claim_scheduled = True
            self.loop.call_soon(self._claim)

    def _poll(self) -> None:
        """The fallback: stop overdue runs, claim what no notification announced, and
        expired leases."""
        self.deadlines.check()
        try:
            self.orphans.check(self.loop.time())
        except Exception:
            logger.exception("taskloom worker %s could not look for orphaned runs", self.worker_id)
        self._claim(expired=True)
        self._poke()
        self._timers["poll"] = self.loop.call_later(self.poll_interval, self._poll)

    def _heartbeat(self) -> None:
        if self.running or self._pending:
            try:
                self.queue.renew_leases(self.worker_id, self.lease)
            except Exception:
                logger.exception("taskloom worker %s could not renew its leases", self.worker_id)
        self._announce("heartbeat")
        self._timers["heartbeat"] = self.loop.call_later(self.lease / 3, self._heartbeat)

    def _claim(self, expired: bool = False) -> None:
        if not expired:
            self._claim_scheduled = False
        if self._draining:
            return
        free = self.slots.capacity - self.slots.in_use - self.slots.waiting
        if free <= 0:
            return
        began = time.perf_counter()
        try:
            claimed = self.queue.claim(
                self.worker_id, free, self.lease, self._workflow_keys, expired=expired
            )
        except Exception:
            logger.exception("taskloom worker %s could not claim tasks", self.worker_id)
            return
        finally:
            self.claims += 1
            self.claim_seconds += time.perf_counter() - began
        self.reclaimed += sum(1 for c in claimed if c.reclaimed)
        if self._limited and not expired and len(claimed) < free:
            # Flow rows under a concurrency limit are claimed apart, one worker at a time.
            try:
                claimed += self.queue.claim(
                    self.worker_id,
                    free - len(claimed),
                    self.lease,
                    self._workflow_keys,
                    limited=True,
                )
            except Exception:
                logger.exception("taskloom worker %s could not claim tasks", self.worker_id)
        if claimed:
            self._start(claimed)

    # -- attempts -----------------------------------------------------------

    def _launch(
        self, claim: ClaimedTask, shape: Shape, node: PlanNode, invocation: Invocation
    ) -> None:
        node = self._with_timeout(claim, shape, node)
        due = None if claim.time_left is None else self.loop.time() + claim.time_left

        def granted() -> None:
            if due is not None and self.loop.time() >= due:
                # The run's deadline passed while the task waited for a slot.
                self.slots.release()
                self.deadlines.expire_soon(claim.run_id)
                return
            lease = SlotLease(self.slots)
            handle = (
                TaskHandle(lease, self.loop, node.label)
                if node.handle_parameter is not None
                else None
            )

            def done(attempt: Attempt, value: Any, error: BaseException | None) -> None:
                self._attempt_done(claim, shape, attempt, value, error)

            attempt = Attempt(node, invocation, lease, handle, self.loop, self.executor, done)
            self.running[(claim.run_id, claim.task_key)] = attempt
            self._claims[(claim.run_id, claim.task_key)] = (claim, shape)
            if due is not None:
                self.deadlines.watch(claim.run_id, due)
            if self._traces:
                tracer = trace_hooks.tracing()
                if tracer is not None:
                    attempt.trace, attempt.context = tracer.start_attempt(
                        self._traces.get(claim.run_id),
                        claim.run_id,
                        claim.workflow_name,
                        claim.task_key,
                        node.name or node.label or claim.task_key,
                        claim.attempt,
                    )
            # The run's creation time is not in the claim: start_time is the claim's.
            attempt.start(
                current.TaskScope(
                    claim.run_id,
                    claim.workflow_name,
                    claim.task_key,
                    node.name or node.label or claim.task_key,
                    claim.attempt,
                    time.time(),
                    shape.plan,
                )
            )
            if events.subscribers:
                now = time.time()
                self._started[(claim.run_id, claim.task_key)] = (now, claim.attempt)
                events.emit(
                    events.LifecycleEvent(
                        "task_started",
                        claim.run_id,
                        claim.workflow_name,
                        now,
                        task_key=claim.task_key,
                        task_name=node.name or node.label or claim.task_key,
                        attempt=claim.attempt,
                    )
                )

        self.slots.request(node.priority, granted)

    def _with_timeout(self, claim: ClaimedTask, shape: Shape, node: PlanNode) -> PlanNode:
        """``node`` with the per-attempt timeout that applies to it: its own, else its run's
        default (recorded by the client), else -- for DAG runs, as a local runner's
        ``task_timeout_seconds`` -- this worker's ``task_timeout``."""
        if node.timeout is not None:
            return node
        default = claim.task_timeout
        if default is None and shape.plan.worker_task_timeout_applies:
            default = self.task_timeout
        return node if default is None else replace(node, timeout=default)

    def _wake_later(self, delay: float) -> None:
        if not self._draining:
            self.loop.call_later(delay, self._poke)

    # -- deadlines ----------------------------------------------------------

    def _finish_stopped(self, conn: Any, finished: FinishedCount, reason: str) -> None:
        """Record the end of a run stopped at its deadline (inside the stopping transaction),
        its result built from its plan as for any run."""
        shape = self.plans.for_run(finished)
        rows = (
            self.queue.outcome_rows(conn, finished.run_id, shape.result_keys)
            if shape is not None
            else []
        )
        self.commits.finish(conn, finished, shape, reason, rows)

    def _drop_run(self, run_id: str) -> None:
        """The run has ended: what this worker still runs of it is abandoned (an async body
        is cancelled, a sync body's result discarded), as a local run's timeout does."""
        for key, attempt in list(self.running.items()):
            if key[0] == run_id:
                attempt.abandon()
                self.running.pop(key, None)
                self._claims.pop(key, None)
                self._started.pop(key, None)
                if attempt.trace is not None:
                    end_attempt_span(attempt, None, "abandoned")
        self.plans.forget(run_id)
        self._inputs.pop(run_id, None)
        self._poke()
        self._maybe_done()

    # -- callbacks ----------------------------------------------------------

    def _callback(self, node: PlanNode, fn: Callable[..., Any], *args: Any) -> None:
        """Run a user callback isolated from the task: errors are logged, never raised."""
        future = run_isolated(self.loop, self.executor, node.label, fn, *args)
        self._callbacks.add(future)

        def forget(done: asyncio.Future[Any]) -> None:
            self._callbacks.discard(done)
            self._maybe_done()

        future.add_done_callback(forget)
