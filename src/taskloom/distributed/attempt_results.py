"""What a worker does with an attempt's outcome, and how it records outcomes.

A finished attempt becomes a completion, a retry (its delay kept durable as
the row's ``ready_at``), a suspension or a terminal failure; every outcome of
one loop turn is then recorded in one transaction (the group commit,
:mod:`taskloom.distributed.batch_commit`) under the fence its claim was taken
with, so a late completion from a worker that lost its lease is rejected.
Split from :mod:`taskloom.distributed.worker`, which inherits it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskloom.core import events
from taskloom.core.attempt import Attempt
from taskloom.core.callbacks import describe_error, format_traceback
from taskloom.core.log_fields import task_fields
from taskloom.core.plan import Invocation, PlanNode
from taskloom.core.suspend import Suspend
from taskloom.core.trace_hooks import end_attempt_span
from taskloom.core.writer import JournalWriter
from taskloom.distributed import growth
from taskloom.distributed.batch_commit import Pending
from taskloom.distributed.run_plans import Shape
from taskloom.distributed.worker_state import COMMIT_RETRY_S, WorkerState
from taskloom.errors import ClaimLostError
from taskloom.journal.queue_records import ClaimedTask, Completion
from taskloom.journal.records import TaskStatus

logger = logging.getLogger("taskloom")


class AttemptResults(WorkerState):
    """The outcome half of a :class:`~taskloom.distributed.worker.Worker`."""

    writer: JournalWriter
    _started: dict[tuple[str, str], tuple[float, int]]

    if TYPE_CHECKING:  # provided by Worker

        def _launch(
            self, claim: ClaimedTask, shape: Shape, node: PlanNode, invocation: Invocation
        ) -> None: ...

    def _attempt_done(
        self,
        claim: ClaimedTask,
        shape: Shape,
        attempt: Attempt,
        value: Any,
        error: BaseException | None,
    ) -> None:
        if attempt.trace is not None:
            end_attempt_span(attempt, error)
        # The rows its body queued on the writer (a step run's lazily recorded
        # starts and values) are written now, under this claim: once the claim
        # is gone they would be dropped (see Worker._write_under_claims).
        self.writer.flush()
        if (claim.run_id, claim.task_key) not in self._claims:
            return  # they could not be written: _writer_failed gave the task back
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
        self._attempt_failed(claim, shape, node, error, attempt.invocation)

    def _attempt_failed(
        self,
        claim: ClaimedTask,
        shape: Shape,
        node: PlanNode,
        error: BaseException,
        invocation: Invocation,
    ) -> None:
        """An attempt failed: retry it if its policy says so, else fail the task."""
        if isinstance(error, Exception) and node.retry.should_retry(claim.attempt, error):
            delay = max(0.0, node.retry.calculate_delay(claim.attempt))
            description = describe_error(error)
            logger.info(
                "task %r of run %s failed (attempt %d), retrying in %.3f s: %s",
                node.label,
                claim.run_id,
                claim.attempt,
                delay,
                description,
                extra=task_fields(claim.run_id, claim.task_key, claim.attempt),
            )
            self._record(
                claim.outcome(
                    TaskStatus.RETRYING,
                    error=description,
                    traceback=format_traceback(error),
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
        self._fail(claim, shape, node, error, invocation)

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
        description = describe_error(error)
        logger.warning(
            "task %r of run %s failed after %d attempt(s): %s",
            node.label,
            claim.run_id,
            claim.attempt,
            description,
            extra=task_fields(claim.run_id, claim.task_key, claim.attempt),
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
                traceback=format_traceback(error),
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
        """A step run's rows could not be written: give its task back to be replayed.

        After a :class:`ClaimLostError` (this worker froze past its lease) the
        run is another worker's: the Suspended outcome recorded here is
        rejected by the fence, and the attempt stops where it is.
        """
        runs = {t.run_id for t in batch.tasks} | {e.run_id for e in batch.events}
        if not isinstance(exc, ClaimLostError):
            logger.error(
                "taskloom worker %s could not write step rows of run(s) %s (replayed in %.0f s): "
                "%s",
                self.worker_id,
                " ".join(sorted(runs)),
                COMMIT_RETRY_S,
                exc,
            )
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
                    wake_in=COMMIT_RETRY_S,
                    event_kind="task_suspended",
                    event_data=json.dumps({"reason": f"journal write failed: {exc}"}),
                ),
                shape,
                lambda: self._wake_later(COMMIT_RETRY_S),
            )

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
                COMMIT_RETRY_S,
            )
            for item in batch:
                item.retried = True
            self._pending = batch + self._pending
            self._flush_scheduled = True
            self.loop.call_later(COMMIT_RETRY_S, self._flush)
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
                    extra=task_fields(c.run_id, c.task_key),
                )
                continue
            self.completed += 1
            if events.subscribers and item.shape is not None:
                self._emit_outcome(item.completion, item.shape)
            if item.after is not None:
                try:
                    item.after()
                except Exception:
                    logger.exception("taskloom internal error after a commit")
        if newly_ready or not self._draining:
            self._poke()
        self._maybe_done()

    def _emit_outcome(self, completion: Completion, shape: Shape) -> None:
        """A recorded outcome as a lifecycle event (as the local scheduler emits them)."""
        kind = _EVENT_OF.get(completion.status)
        if kind is None or (kind == "task_retry" and not completion.attempted):
            return
        now = time.time()
        started, attempt = self._started.pop((completion.run_id, completion.task_key), (None, None))
        node = shape.plan.nodes.get(completion.task_key)
        events.emit(
            events.LifecycleEvent(
                kind,
                completion.run_id,
                shape.plan.workflow_name,
                now,
                task_key=completion.task_key,
                task_name=(node.name or node.label) if node is not None else completion.task_key,
                attempt=attempt if kind != "task_skipped" else None,
                duration=now - started if started is not None and kind != "task_skipped" else None,
                error=completion.error if kind in ("task_failed", "task_retry") else None,
            )
        )


#: The lifecycle event of each recorded status (Suspended and Cancelled have none).
_EVENT_OF = {
    TaskStatus.COMPLETED: "task_succeeded",
    TaskStatus.FAILED: "task_failed",
    TaskStatus.RETRYING: "task_retry",
    TaskStatus.SKIPPED: "task_skipped",
}
