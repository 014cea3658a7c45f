"""Schedules of ``@flow``s: ``taskloom.schedule(flow, cron=..., args=..., kwargs=...)``.

The dataflow face of the one schedule model (:mod:`taskloom.journal.schedules`):
a schedule records the flow's name and its arguments, which must be JSON data
(nothing read back from the journal is unpickled), and every due time runs
``flow(*args, **kwargs)`` as a flow run of its own -- fired by any
``DefaultRunner`` or :func:`taskloom.serve_schedules` loop of a process
that defines the flow.
"""

from __future__ import annotations

import json
from typing import Any

from taskloom.core.schedule_records import new_cron_schedule
from taskloom.core.schedule_styles import register_schedule_style
from taskloom.core.styles import PlanHost
from taskloom.dataflow.flow import Flow, lookup_flow
from taskloom.dataflow.values import is_plain_json
from taskloom.journal.schedules import ScheduleStore
from taskloom.journal.urls import open_journal

STYLE = "flow"


def schedule(
    flow: Flow[Any, Any] | str,
    *,
    cron: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    timezone: str = "UTC",
    name: str | None = None,
    db: str | None = None,
) -> str:
    """Run ``flow(*args, **kwargs)`` at every due time of ``cron``; returns the schedule id.

    ``cron``: 5 fields, or 6 with seconds first; ``timezone``: an IANA name.
    ``name`` (optional, unique) is how ``taskloom schedules`` can refer to it.
    """
    return _create(flow, cron, args, kwargs, timezone, name, db, new_cron_schedule)


def _create(
    flow: Flow[Any, Any] | str,
    cron: str,
    args: Any,
    kwargs: Any,
    timezone: str,
    name: str | None,
    db: str | None,
    new: Any,
) -> str:
    found = flow if isinstance(flow, Flow) else lookup_flow(flow) if isinstance(flow, str) else None
    if found is None:
        raise ValueError(
            f"taskloom.schedule: {flow!r} is not a @flow defined in this process; pass the "
            "flow itself, or import the module that defines it"
        )
    if not isinstance(args, tuple | list) or not is_plain_json(list(args)):
        raise ValueError(
            f"taskloom.schedule({found.name!r}): args={args!r} must be a tuple of JSON data "
            "(str, int, float, bool, None, lists, dicts with str keys)"
        )
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict) or not is_plain_json(kwargs):
        raise ValueError(
            f"taskloom.schedule({found.name!r}): kwargs={kwargs!r} must be a dict of JSON data"
        )
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"taskloom.schedule({found.name!r}): name={name!r}; give a non-empty str")
    input_json = json.dumps({"args": list(args), "kwargs": kwargs})
    record = new(STYLE, found.name, cron, timezone, input_json, name)
    journal = open_journal(db)
    try:
        if not ScheduleStore(journal).create(record):
            raise ValueError(f"taskloom.schedule: a schedule named {name!r} exists already")
    finally:
        journal.close()
    return str(record.schedule_id)


def _flow_starter(
    workflow_name: str, input_json: str, run_id: str, host: PlanHost
) -> tuple[Any, str] | None:
    from taskloom.dataflow.runner import flow_input_json, plan_flow

    flow = lookup_flow(workflow_name)
    if flow is None:
        return None
    data = json.loads(input_json)
    args, kwargs = tuple(data.get("args", [])), dict(data.get("kwargs", {}))
    plan = plan_flow(flow, args, kwargs, "fail_fast", None, host)
    return plan, flow_input_json(plan, args, kwargs)


register_schedule_style(STYLE, _flow_starter, lambda name: lookup_flow(name) is not None)
