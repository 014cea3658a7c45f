"""Cloaca's schedule API on ``DefaultRunner``: cron schedules and event triggers.

Same method names, arguments, dict keys and error texts as Cloaca, over the
one schedule store of the journal (:mod:`taskloom.journal.schedules`) and
the one schedule loop of the core (:mod:`taskloom.core.schedule_loop`). The
DAG style registers here how a schedule's run is planned: the workflow
registered under the schedule's name, with the schedule's (or the
trigger's) context as its input.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from taskloom.core.cron import CronSpec
from taskloom.core.registry import lookup_workflow
from taskloom.core.schedule_loop import EngineLauncher, Launcher, ScheduleLoop
from taskloom.core.schedule_records import ms, new_cron_schedule
from taskloom.core.schedule_styles import register_schedule_style
from taskloom.core.styles import PlanHost
from taskloom.dag.plan import DagPlan
from taskloom.dag.submission import resolve_workflow
from taskloom.journal.base import Journal
from taskloom.journal.schedules import FireOutcome, FireRecord, ScheduleRecord, ScheduleStore

if TYPE_CHECKING:
    from taskloom.core.engine import Engine
    from taskloom.core.plan import Plan

#: Cron settings that must be ints >= their minimum: (name, minimum).
_CRON_INTS = (
    ("cron_poll_interval_seconds", 1),
    ("cron_max_catchup_executions", 1),
    ("cron_recovery_interval_seconds", 1),
    ("cron_lost_threshold_minutes", 1),
    ("cron_max_recovery_age_seconds", 1),
    ("cron_max_recovery_attempts", 0),
    ("scheduler_poll_interval_ms", 1),
    ("db_pool_size", 1),
)


def check_cron_settings(config: Any) -> None:
    """The cron fields of a ``DefaultRunnerConfig``: ``ValueError`` naming a bad one."""
    for name in ("enable_cron_scheduling", "cron_enable_recovery"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"{name}={getattr(config, name)!r}: give True or False")
    for name, minimum in _CRON_INTS:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name}={value!r}: give an int >= {minimum}")


def iso(t: float | None) -> str | None:
    """An epoch time as RFC 3339 text (UTC), as every schedule dict shows times."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def _dag_starter(
    workflow_name: str, input_json: str, run_id: str, host: PlanHost
) -> tuple[Plan, str] | None:
    workflow = lookup_workflow(workflow_name)
    if workflow is None:
        return None
    return DagPlan(workflow, default_timeout=host.task_timeout), input_json


register_schedule_style("dag", _dag_starter, lambda name: lookup_workflow(name) is not None)


def cron_dict(record: ScheduleRecord) -> dict[str, Any]:
    return {
        "id": record.schedule_id,
        "name": record.name,
        "workflow_name": record.workflow_name,
        "style": record.style,
        "cron_expression": record.cron_expression or "",
        "timezone": record.timezone,
        "enabled": record.enabled,
        "next_run_at": iso(record.next_due_ms / 1000) if record.next_due_ms is not None else None,
        "last_run_at": iso(record.last_run_at),
        "last_run_id": record.last_run_id,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }


def trigger_dict(record: ScheduleRecord) -> dict[str, Any]:
    found = cron_dict(record)
    found.pop("name")
    found.update(
        trigger_name=record.name,
        poll_interval_ms=record.poll_interval_ms,
        allow_concurrent=record.allow_concurrent,
        last_poll_at=iso(record.last_poll_at),
    )
    return found


def fire_dict(fire: FireRecord) -> dict[str, Any]:
    status = fire.run_status
    if fire.outcome == FireOutcome.SKIPPED:
        status = "Skipped"
    elif fire.outcome == FireOutcome.ERROR:
        status = "Error"
    return {
        "id": f"{fire.schedule_id}:{fire.due_ms}",
        "schedule_id": fire.schedule_id,
        "scheduled_time": iso(fire.due_ms / 1000),
        "claimed_at": iso(fire.claimed_at),
        "run_id": fire.run_id,
        "pipeline_execution_id": fire.run_id,
        "status": status,
        "outcome": fire.outcome,
        "skipped_count": fire.skipped_count,
        "detail": fire.detail,
        "context_hash": fire.context_hash,
        "started_at": iso(fire.claimed_at),
        "completed_at": iso(fire.run_ended_at),
    }


def _paging(limit: Any, offset: Any) -> tuple[int | None, int]:
    for name, value in (("limit", limit), ("offset", offset)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise ValueError(f"{name}={value!r}: give an int >= 0 or None")
    return limit, offset or 0


def _schedule_id(schedule_id: Any) -> str:
    try:
        return (
            str(uuid.UUID(str(schedule_id)))
            if isinstance(schedule_id, str)
            else _no_id(schedule_id)
        )
    except ValueError:
        return _no_id(schedule_id)


def _no_id(schedule_id: Any) -> str:
    raise ValueError(
        f"Invalid schedule ID: {schedule_id!r} is not a UUID; use an id returned by "
        "register_cron_workflow or list_cron_schedules"
    )


class CronApi:
    """The schedule methods of ``DefaultRunner`` (a mixin: it needs ``journal``/``config``)."""

    journal: Journal
    config: Any
    _schedule_store: ScheduleStore | None = None
    _schedule_loop: ScheduleLoop | None = None

    # -- the loop -------------------------------------------------------------------

    def _start_schedules(self, engine: Engine | None) -> None:
        """Fire schedules and poll triggers from this runner (``enable_cron_scheduling``)."""
        if not self.config.enable_cron_scheduling:
            return
        try:
            store = self._store()
        except NotImplementedError:
            return  # a memory journal: nothing to share, nothing to fire
        launcher: Launcher
        if engine is not None:
            launcher = EngineLauncher(engine)
        else:
            from taskloom.distributed.schedule_launch import QueueLauncher

            launcher = QueueLauncher(store.journal, self.config.task_timeout_seconds)
        self._schedule_loop = ScheduleLoop(
            store.journal, launcher, max_catchup=self.config.cron_max_catchup_executions
        ).start()

    def _stop_schedules(self) -> None:
        if self._schedule_loop is not None:
            self._schedule_loop.stop()
            self._schedule_loop = None

    def _store(self) -> ScheduleStore:
        if self._schedule_store is None:
            self._schedule_store = ScheduleStore(self.journal)
        return self._schedule_store

    def _changed(self) -> None:
        if self._schedule_loop is not None:
            self._schedule_loop.poke()

    def _cron_record(self, schedule_id: Any, failed: str) -> ScheduleRecord:
        key = _schedule_id(schedule_id)
        found = self._store().get(key)
        if found is None or found.kind != "cron":
            raise ValueError(
                f"{failed}: no cron schedule with id {key!r} in {self.journal.url} (deleted, "
                "or never registered); list_cron_schedules() shows the ones there are"
            )
        return found

    # -- cron schedules ---------------------------------------------------------------

    def register_cron_workflow(
        self, workflow_name: str, cron_expression: str, timezone: str = "UTC"
    ) -> str:
        """Fire ``workflow_name`` at every due time of ``cron_expression``; the schedule id."""
        try:
            resolve_workflow(workflow_name)
            record = new_cron_schedule("dag", workflow_name, cron_expression, timezone, "{}", None)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Failed to register cron workflow: {exc}") from None
        self._store().create(record)
        self._changed()
        return record.schedule_id

    def list_cron_schedules(
        self, enabled_only: bool | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[dict[str, Any]]:
        limit, start = _paging(limit, offset)
        found = self._store().list_schedules(
            kind="cron", enabled_only=bool(enabled_only), limit=limit, offset=start
        )
        return [cron_dict(r) for r in found]

    def get_cron_schedule(self, schedule_id: str) -> dict[str, Any]:
        return cron_dict(self._cron_record(schedule_id, "Failed to get cron schedule"))

    def update_cron_schedule(self, schedule_id: str, cron_expression: str, timezone: str) -> None:
        """Change when the schedule fires; the next due time is computed from now."""
        record = self._cron_record(schedule_id, "Failed to update cron schedule")
        try:
            spec = CronSpec.parse(cron_expression, timezone)
        except ValueError as exc:
            raise ValueError(f"Failed to update cron schedule: {exc}") from None
        next_due = ms(spec.next_after(time.time()))
        if not self._store().update_cron(record.schedule_id, spec.expression, timezone, next_due):
            self._cron_record(schedule_id, "Failed to update cron schedule")
        self._changed()

    def set_cron_schedule_enabled(self, schedule_id: str, enabled: bool) -> None:
        """Pause or resume; a resumed schedule fires from its next due time after now."""
        record = self._cron_record(schedule_id, "Failed to update cron schedule")
        set_enabled(self._store(), record, enabled, "Failed to update cron schedule")
        self._changed()

    def delete_cron_schedule(self, schedule_id: str) -> None:
        record = self._cron_record(schedule_id, "Failed to delete cron schedule")
        self._store().delete(record.schedule_id)
        self._changed()

    def get_cron_execution_history(
        self, schedule_id: str, limit: int | None = None, offset: int | None = None
    ) -> list[dict[str, Any]]:
        """Due times of the schedule, newest first, with their runs (also after a delete)."""
        key = _schedule_id(schedule_id)
        limit, start = _paging(limit, offset)
        fires = self._store().history(key, limit, start)
        if not fires and self._store().get(key) is None:
            self._cron_record(key, "Failed to get cron execution history")
        return [fire_dict(f) for f in fires]

    def get_cron_execution_stats(self, since: str) -> dict[str, Any]:
        """Runs started by schedules since ``since`` (RFC 3339), and how many completed."""
        moment = parse_since(since)
        total, completed, lost = self._store().stats(moment)
        return {
            "total_executions": total,
            "successful_executions": completed,
            "lost_executions": lost,
            "success_rate": (completed / total) if total else 0.0,
        }

    # -- triggers -------------------------------------------------------------------------

    def list_trigger_schedules(
        self, enabled_only: bool | None = False, limit: int | None = None, offset: int | None = None
    ) -> list[dict[str, Any]]:
        limit, start = _paging(limit, offset)
        found = self._store().list_schedules(
            named_only=True, enabled_only=bool(enabled_only), limit=limit, offset=start
        )
        return [trigger_dict(r) for r in found]

    def get_trigger_schedule(self, trigger_name: str) -> dict[str, Any] | None:
        found = self._store().get_by_name(trigger_name) if isinstance(trigger_name, str) else None
        return trigger_dict(found) if found is not None else None

    def set_trigger_enabled(self, trigger_name: str, enabled: bool) -> None:
        record = self._trigger_record(trigger_name, "Failed to update trigger")
        set_enabled(self._store(), record, enabled, "Failed to update trigger")
        self._changed()

    def get_trigger_execution_history(
        self, trigger_name: str, limit: int | None = None, offset: int | None = None
    ) -> list[dict[str, Any]]:
        record = self._trigger_record(trigger_name, "Failed to get trigger execution history")
        limit, start = _paging(limit, offset)
        return [fire_dict(f) for f in self._store().history(record.schedule_id, limit, start)]

    def _trigger_record(self, trigger_name: Any, failed: str) -> ScheduleRecord:
        found = self._store().get_by_name(trigger_name) if isinstance(trigger_name, str) else None
        if found is None:
            raise ValueError(
                f"{failed}: no trigger named {trigger_name!r} in {self.journal.url}; a trigger "
                "is recorded when a runner starts in a process that defines it (@trigger)"
            )
        return found


def set_enabled(store: ScheduleStore, record: ScheduleRecord, enabled: Any, failed: str) -> None:
    """Pause or resume a schedule; resuming starts from the next due time after now."""
    if not isinstance(enabled, bool):
        raise ValueError(f"{failed}: enabled={enabled!r}; give True or False")
    now = time.time()
    if record.kind == "cron":
        assert record.cron_expression is not None
        next_due = ms(CronSpec.parse(record.cron_expression, record.timezone).next_after(now))
    else:
        next_due = ms(now)
    store.set_enabled(record.schedule_id, enabled, next_due if enabled else record.next_due_ms)


def parse_since(since: Any) -> float:
    """An RFC 3339 timestamp -> epoch seconds; ``ValueError`` naming it otherwise."""
    example = "give RFC 3339 text with an offset, for example '2026-01-01T00:00:00Z'"
    if not isinstance(since, str):
        raise ValueError(f"Invalid datetime format: since={since!r}; {example}")
    try:
        moment = datetime.fromisoformat(since.strip())
    except ValueError:
        raise ValueError(f"Invalid datetime format: {since!r}; {example}") from None
    if moment.tzinfo is None:
        raise ValueError(f"Invalid datetime format: {since!r} has no UTC offset; {example}")
    return moment.timestamp()
