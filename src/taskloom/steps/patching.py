"""``ctx.patched("change-id")``: change a step workflow's code under runs in flight.

Replay re-executes the interrupted step of a run with the code of the
process that resumes it, and matches its task calls with the recorded ones
by position (``NonDeterminismError`` when they differ). A deploy that
inserts, removes or reorders calls would break the runs in flight; the
change is guarded instead::

    if ctx.patched("audit-before-shipping"):
        await audit(txn)              # new code
    await ship(txn)

The decision, taken the first time a run reaches a ``patched`` call with
that id:

* the run recorded a call at this position under the old code (it is being
  replayed past the point where the new code differs): **False** -- the old
  branch, so the replay matches what was recorded;
* nothing is recorded at this position (a new run, or a run that had not
  got here yet): **True** -- the new branch.

The decision is recorded (a ``patch:<change-id>`` row and a
``patch_decided`` event) and every later call with the same id in the run
returns it, across steps and restarts. ``patched`` takes no call position,
so removing it later (once no run of the old code remains) changes nothing
for runs that took the new branch.
"""

from __future__ import annotations

import time

from taskloom.journal.records import TaskStatus
from taskloom.steps.journal import PATCH_PREFIX
from taskloom.steps.recorder import StepRecorder


def decide(ctx: StepRecorder, change_id: str) -> bool:
    """The branch ``ctx``'s run takes for ``change_id`` (see the module docstring)."""
    if not isinstance(change_id, str) or not change_id.strip():
        raise ValueError(
            f"ctx.patched({change_id!r}): give a non-empty str naming the change, "
            'e.g. ctx.patched("audit-before-shipping")'
        )
    known = ctx.recorded.patches.get(change_id)
    if known is not None:
        return known
    replaying = (ctx.index, ctx.position) in ctx.recorded.ops
    decision = not replaying
    ctx.recorded.patches[change_id] = decision
    record = ctx.writer.new_record(PATCH_PREFIX + change_id, TaskStatus.COMPLETED)
    record.attempt = 1
    record.started_at = record.ended_at = time.time()
    record.output_json = "true" if decision else "false"
    ctx.writer.save(
        record,
        "patch_decided",
        {"change_id": change_id, "patched": decision, "step": ctx.step_name},
    )
    return decision
