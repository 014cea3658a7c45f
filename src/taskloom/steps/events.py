"""Sending events to step runs: the signal inbox and the wake-up.

An event is appended to the run's inbox in the journal -- durable before
``send`` returns, whether or not the run is waiting yet -- and then the run
is woken. The engine of this process wakes a run it owns at once. A run
owned by another process (same database) is woken by its owner's next
maintenance tick, which re-checks the inbox while it has waiting runs: at
most ``recovery_interval`` (1 s by default) later. SQLite offers no
cross-process notification, and a tick that already exists for recovery
costs one indexed query, so this is cheaper than any channel of our own.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from taskloom.errors import RunNotFoundError, TaskloomError
from taskloom.journal.records import RunStatus
from taskloom.steps.workflow import lookup_workflow

if TYPE_CHECKING:
    from taskloom.steps.client import StepBackend


def send_event(engine: StepBackend, workflow_id: str, name: str, payload: Any = None) -> None:
    """Record event ``name`` for run ``workflow_id`` and wake the run.

    Raises at once for what can never be delivered: an unknown or finished
    run, an event the workflow (when defined here) has no handler for, or a
    payload that is not JSON data.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"send(name={name!r}): give the event name as a non-empty str")
    run = engine.journal.get_run(workflow_id)
    if run is None:
        raise RunNotFoundError(f"no workflow with id {workflow_id!r}")
    if run.status != RunStatus.RUNNING:
        raise TaskloomError(
            f"workflow {workflow_id!r} has already finished ({run.status}); "
            f"event {name!r} cannot be delivered"
        )
    workflow = lookup_workflow(run.workflow_name)
    if workflow is not None and name not in workflow.events:
        known = ", ".join(repr(e) for e in workflow.events) or "none"
        raise ValueError(
            f"workflow {run.workflow_name!r} has no @wf.event({name!r}) handler "
            f"(it handles: {known})"
        )
    try:
        payload_json = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"event {name!r}: the payload cannot be recorded ({exc}); send JSON data"
        ) from None
    engine.journal.send_signal(workflow_id, name, payload_json, time.time())
    engine.wake(workflow_id)
