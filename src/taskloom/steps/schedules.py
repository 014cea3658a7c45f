"""Schedules of step workflows: ``Client.schedule(workflow_type, cron=..., input=...)``.

The durable-steps face of the one schedule model: a schedule records the
workflow type and its input (JSON data), and every due time starts a run
of its own whose workflow id names the schedule and the due time
(``TYPE@2026-01-01T06:00:00+00:00#1a2b3c4d``), fired by any runner or
:func:`taskloom.serve_schedules` loop of a process that defines the type.
"""

from __future__ import annotations

import json
from typing import Any

from taskloom.core.engine import Engine
from taskloom.core.schedule_records import new_cron_schedule
from taskloom.core.schedule_styles import register_schedule_style
from taskloom.core.styles import PlanHost
from taskloom.journal.base import Journal
from taskloom.journal.schedules import ScheduleStore
from taskloom.steps.journal import KIND
from taskloom.steps.plan import StepPlan
from taskloom.steps.workflow import lookup_workflow


def schedule_workflow(
    journal: Journal,
    workflow_type: str,
    cron: str,
    input: Any,
    timezone: str,
    name: str | None,
) -> str:
    """Record a cron schedule of ``workflow_type`` with ``input``; returns its id."""
    if not isinstance(workflow_type, str) or lookup_workflow(workflow_type) is None:
        raise ValueError(
            f"Client.schedule: no step workflow of type {workflow_type!r} is defined in this "
            "process; import the module that creates Workflow(workflow_type=...)"
        )
    try:
        input_json = json.dumps(input, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Client.schedule({workflow_type!r}): the input cannot be recorded ({exc}); "
            "pass JSON data"
        ) from None
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"Client.schedule({workflow_type!r}): name={name!r}; give a non-empty str")
    record = new_cron_schedule(KIND, workflow_type, cron, timezone, input_json, name)
    if not ScheduleStore(journal).create(record):
        raise ValueError(f"Client.schedule: a schedule named {name!r} exists already")
    return record.schedule_id


def _step_starter(
    workflow_type: str, input_json: str, run_id: str, host: PlanHost
) -> tuple[Any, str] | None:
    workflow = lookup_workflow(workflow_type)
    if workflow is None or not isinstance(host, Engine):
        return None  # not defined here, or no engine here to drive it (a client-mode runner)
    return StepPlan(workflow, run_id, host), input_json


register_schedule_style(KIND, _step_starter, lambda name: lookup_workflow(name) is not None)
