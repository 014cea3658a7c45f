"""``ctx.send_to_parent``: a child workflow sends an event to the run that started it.

The event lands in the parent's inbox like any ``send`` (so the parent
handles it with an ``@wf.event`` handler when it waits), and the send is an
operation of the child, so a re-executed step does not send it again:

1. the intent is committed first, with the parent's newest signal id;
2. the signal is recorded in the parent's inbox, and the parent woken;
3. the operation is marked done.

A crash between 1 and 3 re-executes the step; the parent's inbox after the
recorded id is then searched for this very event (same name, same payload)
before sending, so it is sent once.

The parent of a child is recorded when the child is created: locally as a
row of the child run (``__parent__``), on distributed workers in the run's
``parent_id`` column.
"""

from __future__ import annotations

import json
import time
from typing import Any

from taskloom.journal.records import RunStatus, TaskStatus
from taskloom.steps.codec import json_default
from taskloom.steps.journal import args_digest, op_key
from taskloom.steps.recorder import StepRecorder

#: Name of the operation that records a send to the parent.
SEND_OP = "__send_to_parent__"


def parent_of(ctx: StepRecorder) -> str | None:
    """The workflow id of the run that started this one, if any."""
    if ctx.recorded.parent is not None:
        return ctx.recorded.parent
    from taskloom.core.engine import Engine

    host = ctx.writer.engine
    if isinstance(host, Engine):
        return None
    from taskloom.journal.postgres_children import child_state
    from taskloom.steps.children import _queue

    state = child_state(_queue(ctx).journal, ctx.workflow_id)
    return None if state is None else state[1]


async def send_to_parent(ctx: StepRecorder, event_name: str, payload: Any = None) -> None:
    """Record event ``event_name`` for the parent run, once; see the module docstring."""
    if not isinstance(event_name, str) or not event_name:
        raise ValueError(f"send_to_parent(event_name={event_name!r}): give a non-empty str")
    try:
        payload_json = json.dumps(payload, default=json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"send_to_parent({event_name!r}): the payload cannot be recorded ({exc}); send JSON "
            "data, a dataclass or a pydantic model"
        ) from None
    position = ctx._take_position()
    digest = args_digest((event_name, payload_json), {})
    ctx.check_recorded(position, SEND_OP, digest)
    parent = parent_of(ctx)
    if parent is None:
        raise RuntimeError(
            f"workflow {ctx.workflow_id!r} has no parent workflow; send_to_parent works in a "
            "child started with ctx.start_child(...) or ctx.run_child(...)"
        )
    journal = ctx.writer.engine.journal
    recorded = ctx.recorded.ops.get((ctx.index, position))
    if recorded is not None and recorded.record.status == TaskStatus.COMPLETED:
        return
    if recorded is None:
        record = ctx.writer.new_record(op_key(ctx.index, position, digest, SEND_OP), "Running")
        record.attempt = 1
        record.started_at = time.time()
        record.output_json = json.dumps({"parent": parent, "after": journal.latest_signal_id()})
        await ctx.writer.commit(record, "parent_event_sending", {"parent": parent})
        already = False
    else:
        record = recorded.record
        after = int(json.loads(record.output_json or "{}").get("after") or 0)
        already = any(
            s.name == event_name and s.payload_json == payload_json
            for s in journal.get_signals(parent, after)
        )
    run = journal.get_run(parent)
    if not already and run is not None and run.status == RunStatus.RUNNING:
        journal.send_signal(parent, event_name, payload_json, time.time())
        _wake(ctx, parent)
    record.status = TaskStatus.COMPLETED
    record.ended_at = time.time()
    await ctx.writer.commit(record, "parent_event_sent", {"parent": parent, "event": event_name})


def _wake(ctx: StepRecorder, parent: str) -> None:
    """Wake the parent where it runs here; on workers the signal's commit already did."""
    from taskloom.core.engine import Engine

    host = ctx.writer.engine
    if isinstance(host, Engine):
        host.wake(parent)
