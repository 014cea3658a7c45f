"""What a worker decides for each task it claimed: start it, skip it, fail it, or drop it.

The decision reads the dependencies' states in one round trip and applies
:func:`taskloom.core.decisions.readiness`, the same rule the local scheduler
uses, so a run means the same thing wherever it executes. Split from
:mod:`taskloom.distributed.worker`, which inherits it.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskloom.core import deaths, trace_hooks
from taskloom.core.decisions import carries_output, readiness, tasks_to_inspect
from taskloom.core.log_fields import task_fields
from taskloom.core.plan import Invocation, PlanNode
from taskloom.distributed import growth
from taskloom.distributed.run_plans import Shape
from taskloom.distributed.worker_state import COMMIT_RETRY_S, MAX_INPUTS, WorkerState
from taskloom.journal.queue_records import ClaimedTask, Completion
from taskloom.journal.records import RunStatus, TaskStatus

logger = logging.getLogger("taskloom")


class ClaimDecisions(WorkerState):
    """The claim half of a :class:`~taskloom.distributed.worker.Worker`."""

    #: The trace context of recent runs (None: submitted without one), tracing on only.
    _traces: OrderedDict[str, str | None]
    #: Deaths of its workers after which a task's attempt fails (None: no limit).
    max_process_deaths: int | None

    if TYPE_CHECKING:  # provided by Worker and AttemptResults

        def _record(
            self,
            completion: Completion,
            shape: Shape | None,
            after: Callable[[], None] | None = None,
            stop: str | None = None,
            grown: growth.Grown | None = None,
        ) -> None: ...

        def _fail(
            self,
            claim: ClaimedTask,
            shape: Shape,
            node: PlanNode,
            error: BaseException,
            invocation: Invocation | None,
            attempted: bool = True,
        ) -> None: ...

        def _attempt_failed(
            self,
            claim: ClaimedTask,
            shape: Shape,
            node: PlanNode,
            error: BaseException,
            invocation: Invocation,
        ) -> None: ...

        def _launch(
            self, claim: ClaimedTask, shape: Shape, node: PlanNode, invocation: Invocation
        ) -> None: ...

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
            while len(self._inputs) > MAX_INPUTS:
                self._inputs.popitem(last=False)
            shape = self.plans.for_claim(claim)
            node = shape.plan.nodes.get(claim.task_key) if shape is not None else None
            if shape is None or node is None:
                self._unplannable(claim)
                continue
            planned.append((claim, shape, node))
            needed.extend((claim.run_id, key) for key in tasks_to_inspect(node))
        if trace_hooks.tracing() is not None:
            self._note_traces([c.run_id for c, _, _ in planned])
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
                        delay=COMMIT_RETRY_S,
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
                    extra=task_fields(claim.run_id, claim.task_key, claim.attempt),
                )
            statuses: dict[str, str] = {}
            outputs: dict[str, str] = {}
            for key in tasks_to_inspect(node):
                status, output = states[(claim.run_id, key)]
                statuses[key] = status
                if carries_output(status, output) and output is not None:
                    outputs[key] = output
            decision = readiness(shape.plan, node, statuses, outputs, claim.input_json)
            if decision.error is not None:
                self._fail(claim, shape, node, decision.error, None, attempted=False)
                continue
            if decision.skip_reason is not None:
                self._record(
                    claim.outcome(
                        TaskStatus.SKIPPED,
                        output_json=decision.output,
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
            if claim.reclaimed and deaths.reached(claim.deaths, self.max_process_deaths):
                # Its workers died (or froze past the lease) that often: a poison task.
                self._attempt_failed(
                    claim, shape, node, deaths.died(node.label, claim.deaths), invocation
                )
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
            extra=task_fields(claim.run_id, claim.task_key),
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
        refused = self.plans.refused.pop(claim.run_id, None)
        reason = (
            f"worker {self.worker_id} could not plan run {claim.run_id} of "
            f"{claim.workflow_name!r} (its code differs from the submitter's: is the flow "
            "body deterministic?)"
            if refused is None
            else f"worker {self.worker_id} refused run {claim.run_id}: {refused}"
        )
        logger.error("%s; failing the run", reason, extra=task_fields(claim.run_id, claim.task_key))
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

    def _note_traces(self, run_ids: list[str]) -> None:
        """Learn the trace context of runs first met here (tracing on only)."""
        unknown = [r for r in dict.fromkeys(run_ids) if r not in self._traces]
        if not unknown:
            return
        try:
            found = self.queue.trace_contexts(unknown)
        except Exception:
            logger.exception("taskloom worker %s could not read trace contexts", self.worker_id)
            found = {}
        for run_id in unknown:
            self._traces[run_id] = found.get(run_id)
        while len(self._traces) > MAX_INPUTS:
            self._traces.popitem(last=False)
