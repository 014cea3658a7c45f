"""Child workflows: a step starts another step workflow and (maybe) waits for it.

A child is an ordinary step run with its own id and journal rows; the parent
records one operation naming it. Starting is idempotent -- the child id is
deterministic (given, or derived from the parent id and the operation's
position) and a run with that id is never created twice -- so a parent
re-executed after a crash finds its child instead of starting another.

Waiting for a child holds no slot: the parent suspends, and the child's end
wakes it (same engine). If the child is run by another process (it was
resumed elsewhere after a crash), the parent re-checks once a second.
The child's result is read from its own run record, which never changes
once it is final, so replay needs nothing else.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from taskloom.errors import TaskloomError
from taskloom.execution.suspend import Suspend
from taskloom.journal.records import RunStatus, TaskStatus
from taskloom.steps.journal import op_key

if TYPE_CHECKING:
    from taskloom.execution.engine import Engine
    from taskloom.steps.context import StepContext
    from taskloom.steps.workflow import Workflow

#: How often a parent re-checks a child that another process runs.
FOREIGN_CHILD_POLL = 1.0


async def ensure_child(
    ctx: StepContext, workflow: Workflow, workflow_id: str | None, input: Any
) -> str:
    """Start the child once (idempotent across replays); its id."""
    from taskloom.steps.context import args_digest
    from taskloom.steps.plan import StepPlan

    position = ctx._take_position()
    child_id = workflow_id or f"{ctx.workflow_id}.s{ctx.index:03d}.{position:04d}"
    try:
        input_json = json.dumps(input, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"child workflow {workflow.workflow_type!r}: the input cannot be recorded ({exc}); "
            "pass JSON data"
        ) from None
    digest = args_digest((workflow.workflow_type, child_id, input_json), {})
    ctx.check_recorded(position, "__child__", digest)
    engine = _local_engine(ctx, workflow.workflow_type)
    existing = engine.journal.get_run(child_id)
    if existing is None:
        workflow.require_start()
        engine.start_run(StepPlan(workflow, child_id, engine), input_json, run_id=child_id)
    elif existing.workflow_name != workflow.workflow_type:
        raise TaskloomError(
            f"child workflow id {child_id!r} is already used by a {existing.workflow_name!r} "
            "run; pass another workflow_id"
        )
    if ctx.recorded.ops.get((ctx.index, position)) is None:
        record = ctx.writer.new_record(
            op_key(ctx.index, position, digest, "__child__"), TaskStatus.COMPLETED
        )
        record.attempt = 1
        record.started_at = record.ended_at = time.time()
        record.output_json = json.dumps({"child": child_id})
        await ctx.writer.commit(record, "child_started", {"child": child_id})
    return child_id


def child_result(ctx: StepContext, child_id: str) -> Any:
    """The child's result if it has ended (raises its failure); else suspend the parent."""
    from taskloom.steps.client import WorkflowHandle

    engine = _local_engine(ctx, child_id)
    execution = engine.active.get(child_id)
    if execution is not None and not execution.future.done():
        parent = ctx.workflow_id
        execution.future.add_done_callback(lambda _: engine.wake(parent))
        raise Suspend(None, f"waits for child workflow {child_id!r}")
    run = engine.journal.get_run(child_id)
    if run is None or run.status == RunStatus.RUNNING:
        raise Suspend(
            time.time() + FOREIGN_CHILD_POLL,
            f"waits for child workflow {child_id!r} (run by another process)",
        )
    return WorkflowHandle(engine, child_id).result(timeout=0)


def _local_engine(ctx: StepContext, child: str) -> Engine:
    """Child workflows are started and followed by a local engine only (for now)."""
    from taskloom.execution.engine import Engine

    engine = ctx.writer.engine
    if not isinstance(engine, Engine):
        raise TaskloomError(
            f"workflow {ctx.workflow_id!r}: child workflow {child!r} cannot be started from a "
            "distributed worker yet; run the parent with a local client"
        )
    return engine
