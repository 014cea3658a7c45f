"""Reading an ended step run's result back from the journal.

Why this module exists: handles (``client``, ``async_client``) and a
parent's ``run_child`` (``children``) both need it; kept here, below both,
``children`` does not import the client (which sits above the step
machinery) and no import cycle forms. ``taskloom.steps.client`` re-exports
:func:`recorded_result`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from taskloom.journal.records import RunStatus, TaskStatus
from taskloom.steps.directives import Directive, ErrorDetails
from taskloom.steps.errors import StepFailed, WorkflowFailed
from taskloom.steps.journal import RecordedRun

if TYPE_CHECKING:
    from taskloom.journal.base import Journal


def recorded_result(journal: Journal, workflow_id: str) -> Any:
    """The result of an ended run as its journal holds it, or raise its failure.

    What ``handle.result()`` returns once the run has ended, and what a
    parent's ``run_child`` returns, read from records that never change
    once the run is final -- so a replay gets the same answer.
    """
    run = journal.get_run(workflow_id)
    assert run is not None
    if run.status == RunStatus.COMPLETED:
        return json.loads(run.final_json or "null")
    failure = _recorded_failure(journal, workflow_id)
    if failure is not None:
        raise failure
    details = ErrorDetails(type=run.status, message=run.error or run.status.lower())
    raise WorkflowFailed(workflow_id, details)


def _recorded_failure(journal: Journal, workflow_id: str) -> WorkflowFailed | None:
    """The failure a run's last step recorded (``ctx.next.fail`` or an uncaught exception)."""
    recorded = RecordedRun.load(journal.get_tasks(workflow_id))
    if not recorded.steps:
        return None
    name, record = recorded.steps[max(recorded.steps)]
    if record.status != TaskStatus.COMPLETED:
        return None
    data = json.loads(record.output_json or "{}")
    directive = Directive.from_dict(data["directive"])
    if directive.kind != "fail" or directive.error is None:
        return None
    cls = StepFailed if data.get("uncaught") else WorkflowFailed
    return cls(workflow_id, directive.error, name)
