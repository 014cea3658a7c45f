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
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from taskloom.core import styles
from taskloom.core.attempt import Attempt
from taskloom.core.decisions import readiness, tasks_to_inspect
from taskloom.core.handle import TaskHandle
from taskloom.core.liveness import HOSTNAME
from taskloom.core.plan import Invocation, PlanNode
from taskloom.core.slots import SlotLease, SlotPool
from taskloom.core.suspend import Suspend
from taskloom.core.writer import JournalWriter
from taskloom.distributed import growth
from taskloom.distributed.batch_commit import BatchCommit, Pending
from taskloom.distributed.deadlines import RunDeadlines
from taskloom.distributed.listener import Listener
from taskloom.distributed.run_plans import RunPlans, Shape
from taskloom.journal.postgres import PostgresJournal
from taskloom.journal.postgres_queue import (
    STOP_PREFIX,
    ClaimedTask,
    Completion,
    FinishedCount,
    TaskQueue,
)
from taskloom.journal.postgres_vacuum import QueueVacuum
from taskloom.journal.records import RunStatus, TaskStatus
from taskloom.journal.urls import is_postgres_url, resolve_url

logger = logging.getLogger("taskloom")

#: Run inputs kept for speculated outcomes; a run missing here is finished the slow way.
_MAX_INPUTS = 1024

#: After a failed commit the batch is retried this much later (the fence keeps it safe).
_COMMIT_RETRY_S = 1.0


class Worker:
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
    ) -> None:
        """``workflows``: the DAG workflows (or names) to serve, default every registered
        one; ``flows``: the ``@flow``s (or names), default every defined one; ``steps``:
        serve every defined step workflow type. ``vacuum``: VACUUM the queue tables when
        their dead rows pile up (see :mod:`taskloom.journal.postgres_vacuum`); False
        leaves it to autovacuum."""
        url = resolve_url(url)
        if not is_postgres_url(url):
            raise ValueError(
                f"a worker needs a postgresql:// database url, got {url!r}: workers share "
                "runs through PostgreSQL (a SQLite run is executed by the runner that starts it)"
            )
        if not lease > 0:
            raise ValueError(f"lease={lease!r}: give a positive number of seconds")
        self.lease = float(lease)
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
        self.writer = JournalWriter(self.journal, self.loop, self._writer_failed)
        self.running: dict[tuple[str, str], Attempt] = {}
        self._claims: dict[tuple[str, str], tuple[ClaimedTask, Shape]] = {}
        #: Recent runs' inputs, to compute a run's outcome before the commit that ends it.
        self._inputs: OrderedDict[str, str] = OrderedDict()
        #: Records the batches of completions (the group commit).
        self.commits = BatchCommit(self.queue, self.plans, self._inputs, self.worker_id)
        self.completed = 0
        self.rejected = 0
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
        self._workflow_keys = self.plans.claim_keys
        #: Only flows have concurrency limits: other workers never run the limited claim.
        self._limited = any(k.startswith("flow:") for k in self._workflow_keys)
        self.deadlines = RunDeadlines(
            self.queue, self.loop, self._workflow_keys, self._finish_stopped, self._drop_run
        )

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
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.queue.close()
            self.journal.close()
            self.loop.close()
            self._stopped.set()

    def _begin(self) -> None:
        self._heartbeat()
        self._poll()

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
        self._claim(expired=True)
        self._poke()
        self._timers["poll"] = self.loop.call_later(self.poll_interval, self._poll)

    def _heartbeat(self) -> None:
        if self.running or self._pending:
            try:
                self.queue.renew_leases(self.worker_id, self.lease)
            except Exception:
                logger.exception("taskloom worker %s could not renew its leases", self.worker_id)
        self._timers["heartbeat"] = self.loop.call_later(self.lease / 3, self._heartbeat)

    def _claim(self, expired: bool = False) -> None:
        if not expired:
            self._claim_scheduled = False
        if self._draining:
            return
        free = self.slots.capacity - self.slots.in_use - self.slots.waiting
        if free <= 0:
            return
        try:
            claimed = self.queue.claim(
                self.worker_id, free, self.lease, self._workflow_keys, expired=expired
            )
        except Exception:
            logger.exception("taskloom worker %s could not claim tasks", self.worker_id)
            return
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

    def _start(self, claimed: list[ClaimedTask]) -> None:
        """Decide each claimed task (run, skip, fail) from its dependencies' states."""
        needed: list[tuple[str, str]] = []
        planned: list[tuple[ClaimedTask, Shape, PlanNode]] = []
        for claim in claimed:
            if claim.time_left is not None and claim.time_left <= 0:
                # Claimed after its run's deadline: nothing of it starts; the run stops.
                self.deadlines.expire_soon(claim.run_id)
                continue
            self._inputs[claim.run_id] = claim.input_json
            self._inputs.move_to_end(claim.run_id)
            while len(self._inputs) > _MAX_INPUTS:
                self._inputs.popitem(last=False)
            shape = self.plans.for_claim(claim)
            node = shape.plan.nodes.get(claim.task_key) if shape is not None else None
            if shape is None or node is None:
                self._unplannable(claim)
                continue
            planned.append((claim, shape, node))
            needed.extend((claim.run_id, key) for key in tasks_to_inspect(node))
        try:
            states, runs = self.queue.task_states(needed, [c.run_id for c, _, _ in planned])
        except Exception:
            # Give the claims back (the heartbeat would otherwise renew their leases for
            # as long as this worker has other work): claimable again a moment later.
            logger.exception("taskloom worker %s could not read task states", self.worker_id)
            for claim, shape, _ in planned:
                self._record(
                    claim.outcome(
                        TaskStatus.RETRYING,
                        attempted=False,
                        delay=_COMMIT_RETRY_S,
                        event_kind="task_released",
                        event_data=json.dumps({"reason": "could not read task states"}),
                    ),
                    shape,
                )
            return
        for claim, shape, node in planned:
            if runs.get(claim.run_id) != RunStatus.RUNNING:
                self._run_ended(claim, shape, runs.get(claim.run_id))
                continue
            if claim.reclaimed:
                logger.info(
                    "task %r of run %s: its previous owner's lease expired; running it again",
                    node.label,
                    claim.run_id,
                )
            statuses: dict[str, str] = {}
            outputs: dict[str, str] = {}
            for key in tasks_to_inspect(node):
                status, output = states[(claim.run_id, key)]
                statuses[key] = status
                if status == TaskStatus.COMPLETED and output is not None:
                    outputs[key] = output
            decision = readiness(shape.plan, node, statuses, outputs, claim.input_json)
            if decision.error is not None:
                self._fail(claim, shape, node, decision.error, None, attempted=False)
                continue
            if decision.skip_reason is not None:
                self._record(
                    claim.outcome(
                        TaskStatus.SKIPPED,
                        attempted=False,
                        event_kind="task_skipped",
                        event_data=json.dumps({"reason": decision.skip_reason}),
                    ),
                    shape,
                )
                continue
            invocation = decision.invocation
            if invocation is None:
                try:
                    invocation = shape.plan.prepare(node, outputs, claim.input_json)
                except Exception as exc:
                    self._fail(claim, shape, node, exc, None, attempted=False)
                    continue
            self._launch(claim, shape, node, invocation)

    def _run_ended(self, claim: ClaimedTask, shape: Shape, status: str | None) -> None:
        """The run was cancelled (or stopped) while this task was being claimed: the
        cancel skipped the row our claim held locked. Record it Cancelled, unstarted."""
        logger.info(
            "task %r of run %s not started: the run is %s",
            claim.task_key,
            claim.run_id,
            status or "gone",
        )
        self._record(
            claim.outcome(
                TaskStatus.CANCELLED,
                error=f"run {claim.run_id} ended ({status or 'gone'}) before the task started",
                attempted=False,
                event_kind="task_cancelled",
                event_data=json.dumps({"run_status": status}),
            ),
            shape,
        )

    def _unplannable(self, claim: ClaimedTask) -> None:
        """A run whose plan this worker cannot rebuild fails, rather than loop between workers."""
        reason = (
            f"worker {self.worker_id} could not plan run {claim.run_id} of "
            f"{claim.workflow_name!r} (its code differs from the submitter's: is the flow "
            "body deterministic?)"
        )
        logger.error("%s; failing the run", reason)
        self._record(
            claim.outcome(
                TaskStatus.FAILED,
                error=reason,
                attempted=False,
                event_kind="task_failed",
                event_data=json.dumps({"error": reason}),
            ),
            None,
            stop=reason,
        )

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
            attempt.start()

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

    def _attempt_done(
        self,
        claim: ClaimedTask,
        shape: Shape,
        attempt: Attempt,
        value: Any,
        error: BaseException | None,
    ) -> None:
        self.running.pop((claim.run_id, claim.task_key), None)
        self._claims.pop((claim.run_id, claim.task_key), None)
        if claim.time_left is not None and not any(r == claim.run_id for r, _ in self.running):
            self.deadlines.unwatch(claim.run_id)
        node = attempt.node
        if error is None:
            try:
                output = shape.plan.encode(node, attempt.invocation, value)
                grown = growth.expand(shape, claim, output) if shape.plan.grows else None
            except Exception as exc:
                if shape.plan.grows:
                    self.plans.forget(claim.run_id)  # it may be half grown: plan it afresh
                error = exc
            else:
                after = None
                if node.on_success is not None:
                    on_success = node.on_success
                    state = shape.plan.callback_state(attempt.invocation, output)
                    after = lambda: self._callback(node, on_success, node.label, state)  # noqa: E731
                self._record(
                    claim.outcome(
                        TaskStatus.COMPLETED,
                        output_json=output,
                        event_kind="task_succeeded",
                        event_data=json.dumps({"attempt": claim.attempt, "worker": self.worker_id}),
                    ),
                    shape,
                    after,
                    grown=grown,
                )
                return
        if isinstance(error, Suspend):
            self._suspend(claim, shape, error)
            return
        if isinstance(error, Exception) and node.retry.should_retry(claim.attempt, error):
            delay = max(0.0, node.retry.calculate_delay(claim.attempt))
            description = _describe(error)
            logger.info(
                "task %r of run %s failed (attempt %d), retrying in %.3f s: %s",
                node.label,
                claim.run_id,
                claim.attempt,
                delay,
                description,
            )
            self._record(
                claim.outcome(
                    TaskStatus.RETRYING,
                    error=description,
                    traceback=_format_traceback(error),
                    delay=delay,
                    event_kind="task_retry",
                    event_data=json.dumps(
                        {"attempt": claim.attempt, "delay": delay, "error": description}
                    ),
                ),
                shape,
                # The durable timer is the row's ready_at; this local one just claims on time.
                lambda: self._wake_later(delay),
            )
            return
        self._fail(claim, shape, node, error, attempt.invocation)

    def _suspend(self, claim: ClaimedTask, shape: Shape, request: Suspend) -> None:
        """The node waits (a sleep, an event): give the task back until it is due or signalled."""
        wake_in = None if request.wake_at is None else max(0.0, request.wake_at - time.time())
        self._record(
            claim.outcome(
                TaskStatus.SUSPENDED,
                # The claim's attempt is not a try: waking must not use up retries.
                attempted=False,
                wake_in=wake_in,
                event_kind="task_suspended",
                event_data=json.dumps({"wake_in": wake_in, "reason": request.reason}),
            ),
            shape,
            None if wake_in is None else (lambda: self._wake_later(wake_in)),
        )

    def _fail(
        self,
        claim: ClaimedTask,
        shape: Shape,
        node: PlanNode,
        error: BaseException,
        invocation: Invocation | None,
        attempted: bool = True,
    ) -> None:
        description = _describe(error)
        logger.warning(
            "task %r of run %s failed after %d attempt(s): %s",
            node.label,
            claim.run_id,
            claim.attempt,
            description,
        )
        after = None
        if node.on_failure is not None:
            on_failure = node.on_failure
            state = shape.plan.callback_state(invocation, None) if invocation else None
            after = lambda: self._callback(node, on_failure, node.label, description, state)  # noqa: E731
        self._record(
            claim.outcome(
                TaskStatus.FAILED,
                error=description,
                traceback=_format_traceback(error),
                attempted=attempted,
                event_kind="task_failed",
                event_data=json.dumps({"error": description}),
            ),
            shape,
            after,
            stop=f"task {node.label!r} failed: {description}"
            if shape.plan.stop_on_failure
            else None,
        )

    def _writer_failed(self, exc: BaseException, batch: Any) -> None:
        """A step run's rows could not be written: give its task back to be replayed."""
        runs = {t.run_id for t in batch.tasks} | {e.run_id for e in batch.events}
        logger.error("taskloom worker %s could not write step rows: %s", self.worker_id, exc)
        for (run_id, key), attempt in list(self.running.items()):
            if run_id not in runs:
                continue
            attempt.abandon()
            self.running.pop((run_id, key), None)
            claim, shape = self._claims.pop((run_id, key))
            self._record(
                claim.outcome(
                    TaskStatus.SUSPENDED,
                    attempted=False,
                    wake_in=_COMMIT_RETRY_S,
                    event_kind="task_suspended",
                    event_data=json.dumps({"reason": f"journal write failed: {exc}"}),
                ),
                shape,
                lambda: self._wake_later(_COMMIT_RETRY_S),
            )

    def _wake_later(self, delay: float) -> None:
        if not self._draining:
            self.loop.call_later(delay, self._poke)

    # -- group commit -------------------------------------------------------

    def _record(
        self,
        completion: Completion,
        shape: Shape | None,
        after: Callable[[], None] | None = None,
        stop: str | None = None,
        grown: growth.Grown | None = None,
    ) -> None:
        self._pending.append(Pending(completion, shape, after, stop, grown))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            accepted, newly_ready = self.commits.commit(batch)
        except Exception:
            logger.exception(
                "taskloom worker %s could not record %d completion(s); retrying in %.1f s",
                self.worker_id,
                len(batch),
                _COMMIT_RETRY_S,
            )
            for item in batch:
                item.retried = True
            self._pending = batch + self._pending
            self._flush_scheduled = True
            self.loop.call_later(_COMMIT_RETRY_S, self._flush)
            return
        accepted |= self.commits.recorded_earlier(batch, accepted)
        for item in batch:
            c = item.completion
            if (c.run_id, c.task_key) not in accepted:
                self.rejected += 1
                if item.grown is not None:
                    # The plan grew for a completion that is not recorded: plan afresh.
                    self.plans.forget(c.run_id)
                logger.warning(
                    "late completion rejected: task %r of run %s (fence %d, outcome %s) is no "
                    "longer owned by worker %s -- its lease expired and another worker claimed "
                    "it, or its run was stopped",
                    c.task_key,
                    c.run_id,
                    c.fence,
                    c.status,
                    self.worker_id,
                )
                continue
            self.completed += 1
            if item.after is not None:
                try:
                    item.after()
                except Exception:
                    logger.exception("taskloom internal error after a commit")
        if newly_ready or not self._draining:
            self._poke()
        self._maybe_done()

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
        self.plans.forget(run_id)
        self._inputs.pop(run_id, None)
        self._poke()
        self._maybe_done()

    # -- callbacks ----------------------------------------------------------

    def _callback(self, node: PlanNode, fn: Callable[..., Any], *args: Any) -> None:
        """Run a user callback isolated from the task: errors are logged, never raised."""
        loop = self.loop

        async def call() -> None:
            try:
                if asyncio.iscoroutinefunction(fn):
                    await fn(*args)
                else:
                    result = await loop.run_in_executor(self.executor, lambda: fn(*args))
                    if asyncio.iscoroutine(result):
                        await result
            except asyncio.CancelledError:
                raise
            except BaseException:
                logger.exception(
                    "callback %s of task %r raised; the task's outcome is unchanged",
                    getattr(fn, "__name__", fn),
                    node.label,
                )

        future = loop.create_task(call())
        self._callbacks.add(future)

        def forget(done: asyncio.Future[Any]) -> None:
            self._callbacks.discard(done)
            self._maybe_done()

        future.add_done_callback(forget)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _format_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))
