"""The Schedules page's data: cron and trigger schedules with their last runs.

Read through the journal's schedule store (:mod:`taskloom.journal.schedules`),
as ``taskloom schedules`` and ``DefaultRunner.list_cron_schedules`` do.
Pausing and resuming go through :func:`taskloom.dag.cron_api.set_enabled`,
the function behind ``set_cron_schedule_enabled`` / ``set_trigger_enabled``,
so the journal records exactly what those calls record.
"""

from __future__ import annotations

from typing import Any

from taskloom.journal.base import Journal
from taskloom.ui import present

#: Fires (due times and their runs) shown per schedule.
LAST_RUNS = 5


def _store(journal: Journal) -> Any:
    from taskloom.journal.schedules import ScheduleStore

    try:
        return ScheduleStore(journal)
    except NotImplementedError:
        return None  # a memory journal keeps no schedules


def supported(journal: Journal) -> bool:
    return _store(journal) is not None


def schedule_documents(journal: Journal, last_runs: int = LAST_RUNS) -> list[dict[str, Any]]:
    """Every schedule, oldest first, with its ``last_runs`` most recent fires."""
    from taskloom.dag.cron_api import fire_dict

    store = _store(journal)
    if store is None:
        return []
    found = []
    for record in store.list_schedules():
        fires = [fire_dict(f) for f in store.history(record.schedule_id, last_runs, 0)]
        next_fire = record.next_due_ms / 1000 if record.next_due_ms is not None else None
        found.append(
            {
                "id": record.schedule_id,
                "name": record.name,
                "kind": record.kind,
                "style": record.style,
                "workflow_name": record.workflow_name,
                "cron_expression": record.cron_expression,
                "timezone": record.timezone,
                "poll_interval_ms": record.poll_interval_ms,
                "allow_concurrent": record.allow_concurrent,
                "enabled": record.enabled,
                # A paused schedule does not fire: no next fire to show.
                "next_run_at": present.iso(next_fire) if record.enabled else None,
                "last_run_at": present.iso(record.last_run_at),
                "last_run_id": record.last_run_id,
                "last_runs": [
                    {
                        "scheduled_time": f["scheduled_time"],
                        "run_id": f["run_id"],
                        "status": f["status"],
                        "outcome": f["outcome"],
                        "detail": f["detail"],
                    }
                    for f in fires
                ],
            }
        )
    return found


def set_schedule_enabled(journal: Journal, schedule_id: str, enabled: bool) -> dict[str, Any]:
    """Pause (``False``) or resume (``True``) a schedule; ``LookupError`` if there is none.

    The same journal writes as ``runner.set_cron_schedule_enabled(id, enabled)``
    for a cron schedule and ``runner.set_trigger_enabled(name, enabled)`` for a trigger.
    """
    from taskloom.dag.cron_api import set_enabled

    store = _store(journal)
    record = store.get(schedule_id) if store is not None else None
    if record is None:
        raise LookupError(f"no schedule with id {schedule_id!r} in this journal")
    what = "cron schedule" if record.kind == "cron" else "trigger"
    failed = f"Failed to update {what}"
    set_enabled(store, record, enabled, failed)
    return {"id": record.schedule_id, "enabled": enabled}
