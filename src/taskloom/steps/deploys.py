"""What retries and deploys mean for step runs.

A step run has one version ("1"): whether changed code may continue a run
is decided by replay, call by call (``NonDeterminismError``), and a
change made under runs in flight is guarded with ``ctx.patched(...)``
(:mod:`taskloom.steps.patching`). So step runs are never orphaned by a
version; this module only tells the core that this process defines a
step workflow type, and how a retry restarts a failed or cancelled run.

A retried step run re-drives from its last recorded step: the steps before
it are replayed from their records (not executed), the last step -- the
one that failed, or was interrupted by the cancel -- is executed again,
its completed operations replayed by id and its failed or cancelled
operations run again with a fresh retry budget. Steps recorded as
completed with a ``ctx.next.fail(...)`` directive count as the failed
step: they are executed again too.
"""

from __future__ import annotations

import json

from taskloom.core import adoption, retrying
from taskloom.journal.records import TaskRecord, TaskStatus
from taskloom.steps.journal import DRIVER_KEY, KIND, VERSION, RecordedRun
from taskloom.steps.workflow import lookup_workflow


def _version(name: str) -> str | None:
    return VERSION if lookup_workflow(name) is not None else None


def retry_rows(records: list[TaskRecord]) -> list[TaskRecord]:
    """The driver restarts; the last step and its failed operations run again."""
    recorded = RecordedRun.load([r for r in records if r.task_key != DRIVER_KEY])
    last = max(recorded.steps) if recorded.steps else None
    again: set[str] = set()
    if last is not None:
        _, step = recorded.steps[last]
        data = json.loads(step.output_json or "{}") if step.status == TaskStatus.COMPLETED else {}
        if step.status != TaskStatus.COMPLETED or data.get("directive", {}).get("kind") == "fail":
            again.add(step.task_key)
        for (index, _), op in recorded.ops.items():
            if index == last and op.record.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
                again.add(op.record.task_key)
    step_rows = {row.task_key for _, row in recorded.steps.values()}
    rows: list[TaskRecord] = []
    for record in records:
        if record.task_key == DRIVER_KEY or record.task_key in again:
            row = retrying.restart(record)
            if record.task_key in step_rows:
                # A step row keeps what it carries into its next execution (a consumed signal).
                row.output_json = record.output_json
            rows.append(row)
        else:
            rows.append(record)
    return rows


adoption.register_version_source(KIND, _version)
retrying.register_retry_rows(KIND, retry_rows)
