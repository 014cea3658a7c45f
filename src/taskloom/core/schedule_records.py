"""New schedule records: a cron schedule registered by a user, a trigger defined in code.

Every style's registration ends here, so that a schedule's first due time
is computed the same way whoever registers it (from now, in its time zone).
"""

from __future__ import annotations

import time
import uuid

from taskloom.core.cron import CronSpec
from taskloom.core.schedule_styles import TriggerDefinition
from taskloom.journal.schedules import ScheduleRecord


def ms(t: float) -> int:
    """Epoch seconds -> the epoch milliseconds due times are kept in."""
    return round(t * 1000)


def new_cron_schedule(
    style: str, workflow_name: str, expression: str, tz: str, input_json: str, name: str | None
) -> ScheduleRecord:
    """A cron schedule record, its first due time computed from now."""
    spec = CronSpec.parse(expression, tz)
    now = time.time()
    return ScheduleRecord(
        schedule_id=str(uuid.uuid4()),
        name=name,
        kind="cron",
        style=style,
        workflow_name=workflow_name,
        input_json=input_json,
        cron_expression=spec.expression,
        timezone=tz,
        poll_interval_ms=None,
        allow_concurrent=True,
        enabled=True,
        next_due_ms=ms(spec.next_after(now)),
        last_run_at=None,
        last_run_id=None,
        last_poll_at=None,
        version=1,
        created_at=now,
        updated_at=now,
    )


def trigger_record(definition: TriggerDefinition, style: str) -> ScheduleRecord:
    now = time.time()
    if definition.cron is not None:
        spec = CronSpec.parse(definition.cron, definition.timezone)
        next_due: int = ms(spec.next_after(now))
    else:
        next_due = ms(now)
    return ScheduleRecord(
        schedule_id=str(uuid.uuid4()),
        name=definition.name,
        kind="cron" if definition.cron is not None else "trigger",
        style=style,
        workflow_name=definition.workflow_name,
        input_json="{}",
        cron_expression=definition.cron,
        timezone=definition.timezone,
        poll_interval_ms=definition.poll_interval_ms,
        allow_concurrent=definition.allow_concurrent,
        enabled=True,
        next_due_ms=next_due,
        last_run_at=None,
        last_run_id=None,
        last_poll_at=None,
        version=1,
        created_at=now,
        updated_at=now,
    )
