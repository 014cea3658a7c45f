"""Child workflows: a step starts another step workflow and (maybe) waits for it.

A child is an ordinary step run with its own id and journal rows; the parent
records one operation (``__child__``) naming it. Starting is idempotent --
the child id is deterministic (given, or derived from the parent id and the
operation's position) and a run with that id is never created twice -- so a
parent re-executed after a crash finds its child instead of starting
another. The operation is committed *before* the child is created: a run
that has a child has always recorded it, which is how cancelling the parent
finds its children on a local engine (:func:`recorded_children`).

Where the parent runs decides where the child runs and how its end wakes
the parent; waiting never holds a slot (the parent suspends):

* **Local engine**: the child runs on the same engine, and its end wakes
  the parent at once. A child run by another process (resumed there after
  a crash) is re-checked once a second.
* **Distributed worker**: the child is queued for the workers with the
  parent recorded on its run (:func:`taskloom.steps.remote.queue_child`);
  the parent suspends with no wake-up time, and the worker commit that
  ends the child makes the parent claimable again and notifies the workers
  (:mod:`taskloom.journal.postgres_children`).

Either way the child's result is read from its own run record, which never
changes once it is final, so replay needs nothing else and a child's
result or failure reaches the parent the same way in both modes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskloom.core.suspend import Suspend
from taskloom.errors import TaskloomError
from taskloom.journal.records import RunStatus, TaskRecord, TaskStatus
from taskloom.steps.codec import json_default
from taskloom.steps.journal import RecordedRun, args_digest, op_key
from taskloom.steps.recorder import StepRecorder
from taskloom.steps.results import recorded_result

if TYPE_CHECKING:
    from taskloom.core.engine import Engine
    from taskloom.core.plan import Plan
    from taskloom.journal.postgres_queue import TaskQueue
    from taskloom.steps.workflow import Workflow

#: How often a parent re-checks a child whose end will not wake it.
FOREIGN_CHILD_POLL = 1.0

#: Name of the operation that records a child.
CHILD_OP = "__child__"

#: Builds the plan of a child run on a local engine: ``taskloom.steps.plan``
#: registers ``StepPlan`` at import (it sits above this module, so importing it
#: here would close an import cycle). Any parent running on an engine runs a
#: ``StepPlan`` itself, so the factory is registered before a child starts.
PlanFactory = Callable[["Workflow", str, "Engine", tuple[str, str]], "Plan"]
_plan_factory: PlanFactory | None = None


def register_plan_factory(factory: PlanFactory) -> None:
    """Set how a child run's plan is built (called by ``taskloom.steps.plan``)."""
    global _plan_factory
    _plan_factory = factory


async def ensure_child(
    ctx: StepRecorder, workflow: Workflow, workflow_id: str | None, input: Any
) -> str:
    """Start the child once (idempotent across replays); its id."""
    position = ctx._take_position()
    child_id = workflow_id or f"{ctx.workflow_id}.s{ctx.index:03d}.{position:04d}"
    try:
        input_json = json.dumps(input, default=json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"child workflow {workflow.workflow_type!r}: the input cannot be recorded ({exc}); "
            "pass JSON data, a dataclass or a pydantic model"
        ) from None
    digest = args_digest((workflow.workflow_type, child_id, input_json), {})
    ctx.check_recorded(position, CHILD_OP, digest)
    workflow.check_input(input)
    existing = ctx.writer.engine.journal.get_run(child_id)
    if existing is not None:
        _check_type(child_id, existing.workflow_name, workflow)
    if ctx.recorded.ops.get((ctx.index, position)) is None:
        record = ctx.writer.new_record(
            op_key(ctx.index, position, digest, CHILD_OP), TaskStatus.COMPLETED
        )
        record.attempt = 1
        record.started_at = record.ended_at = time.time()
        record.output_json = json.dumps({"child": child_id})
        await ctx.writer.commit(record, "child_started", {"child": child_id})
    if existing is None:
        _start(ctx, workflow, child_id, input_json)
    return child_id


def _start(ctx: StepRecorder, workflow: Workflow, child_id: str, input_json: str) -> None:
    """Create the child run where the parent runs: on its engine, or queued for the workers."""
    from taskloom.core.engine import Engine

    host = ctx.writer.engine
    if isinstance(host, Engine):
        parent = (ctx.workflow_id, ctx.workflow_type)
        if _plan_factory is None:
            raise TaskloomError("taskloom.steps.plan is not imported; no step plan to run a child")
        plan = _plan_factory(workflow, child_id, host, parent)
        host.start_run(plan, input_json, run_id=child_id)
        return
    from taskloom.steps.remote import queue_child  # lazily: distributed-only imports

    started = queue_child(_queue(ctx), workflow, child_id, input_json, ctx.workflow_id)
    if started == "parent ended":
        raise TaskloomError(
            f"workflow {ctx.workflow_id!r} has ended (cancelled?); its child workflow "
            f"{child_id!r} was not started"
        )
    if started == "exists":  # created meanwhile, e.g. by a worker that took over the parent
        run = host.journal.get_run(child_id)
        if run is not None:
            _check_type(child_id, run.workflow_name, workflow)


def _check_type(child_id: str, recorded: str, workflow: Workflow) -> None:
    if recorded != workflow.workflow_type:
        raise TaskloomError(
            f"child workflow id {child_id!r} is already used by a {recorded!r} "
            "run; pass another workflow_id"
        )


def child_result(ctx: StepRecorder, child_id: str) -> Any:
    """The child's result if it has ended (raises its failure); else suspend the parent."""
    from taskloom.core.engine import Engine

    host = ctx.writer.engine
    if isinstance(host, Engine):
        _wait_local(host, ctx.workflow_id, child_id)
    else:
        _wait_distributed(_queue(ctx), ctx.workflow_id, child_id)
    return recorded_result(host.journal, child_id)


def _wait_local(engine: Engine, parent: str, child_id: str) -> None:
    """Return if the child has ended; else suspend until its end wakes ``parent``."""
    execution = engine.active.get(child_id)
    if execution is not None and not execution.future.done():
        execution.future.add_done_callback(lambda _: engine.wake(parent))
        raise Suspend(None, f"waits for child workflow {child_id!r}")
    run = engine.journal.get_run(child_id)
    if run is None or run.status == RunStatus.RUNNING:
        raise Suspend(
            time.time() + FOREIGN_CHILD_POLL,
            f"waits for child workflow {child_id!r} (run by another process)",
        )


def _wait_distributed(queue: TaskQueue, parent: str, child_id: str) -> None:
    """Return if the child has ended; else suspend until the commit that ends it wakes us.

    No lost wake-up: if the child ends after this read, its commit moves the
    parent driver's ``ready_at`` past this attempt's start, so the
    suspension recorded next ends at once. Only a run that does not name
    this parent (an existing run reused through ``workflow_id=``) is polled.
    """
    from taskloom.journal.postgres_children import child_state

    state = child_state(queue.journal, child_id)
    if state is not None and state[0] != RunStatus.RUNNING:
        return
    if state is not None and state[1] == parent:
        raise Suspend(None, f"waits for child workflow {child_id!r}")
    raise Suspend(
        time.time() + FOREIGN_CHILD_POLL,
        f"waits for workflow {child_id!r} (not started by this run, so its end does not wake it)",
    )


def _queue(ctx: StepRecorder) -> TaskQueue:
    """The workers' queue of the distributed worker running this step."""
    from taskloom.distributed.worker import Worker

    host = ctx.writer.engine
    if not isinstance(host, Worker):
        raise TaskloomError(
            f"workflow {ctx.workflow_id!r}: child workflows need a local engine or a "
            f"distributed worker to run the parent, not {type(host).__name__}"
        )
    return host.queue


def recorded_children(records: list[TaskRecord]) -> list[str]:
    """The ids of the children a step run recorded starting (``__child__`` operations)."""
    recorded = RecordedRun.load(records)
    return [
        json.loads(op.record.output_json or "{}")["child"]
        for _, op in sorted(recorded.ops.items())
        if op.name == CHILD_OP and op.record.output_json
    ]
