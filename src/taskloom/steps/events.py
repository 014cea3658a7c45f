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
import logging
import time
from typing import TYPE_CHECKING, Any

from taskloom.errors import RunNotFoundError, TaskloomError
from taskloom.journal.records import RunStatus
from taskloom.steps.codec import json_default
from taskloom.steps.workflow import lookup_workflow

logger = logging.getLogger("taskloom")

if TYPE_CHECKING:
    from taskloom.steps.backend import StepBackend


def send_event(engine: StepBackend, workflow_id: str, name: str, payload: Any = None) -> None:
    """Record event ``name`` for run ``workflow_id`` and wake the run.

    Raises at once for what can never be delivered: an unknown or finished
    run, or a payload that cannot be recorded. An event the workflow has no
    handler for is accepted and recorded, as in grctl (a warning is logged
    when the workflow is defined here); waits pass it over.
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
    try:
        payload_json = json.dumps(payload, default=json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"event {name!r}: the payload cannot be recorded ({exc}); send JSON data, a "
            "dataclass or a pydantic model"
        ) from None
    workflow = lookup_workflow(run.workflow_name)
    if workflow is not None and name not in workflow.events:
        # grctl's rule: accepted and kept, never an error; no step will handle it.
        known = ", ".join(repr(e) for e in workflow.events) or "none"
        logger.warning(
            "workflow %r (%s) has no @wf.event(%r) handler (it handles: %s); the event is "
            "recorded and will be ignored",
            workflow_id,
            run.workflow_name,
            name,
            known,
        )
    engine.journal.send_signal(workflow_id, name, payload_json, time.time())
    engine.wake(workflow_id)
