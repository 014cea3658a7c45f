"""The schedule store: schedules and their fires, kept in the journal's database.

Schedules live beside the runs they start so that they survive restarts and
are shared by every process on the database, and so that firing a due time
and recording the run it starts are one transaction (:meth:`ScheduleStore.fire`):
a compare-and-set of the schedule's next due time and version, the insert
of the fire keyed by ``(schedule_id, due_ms)``, and the caller's insert of
the run. Whatever the number of processes, a due time starts at most one
run, and a run never exists without its fire (nor a fire without its run).

The SQL of both backends lives in ``sql/{sqlite,postgres}_schedules.sql``
(same names, same named parameters). Edits announce themselves: PostgreSQL
by NOTIFY in their transaction, SQLite by bumping a counter row that other
processes read (:meth:`ScheduleStore.change_version`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from taskloom.journal.base import Journal
from taskloom.journal.records import RunStatus
from taskloom.journal.sqlfiles import load_queries

#: Base name of the PostgreSQL NOTIFY channel announcing schedule edits (one per schema).
CHANGES = "taskloom_schedules"


class FireOutcome:
    """What became of one due time."""

    STARTED = "started"
    #: Not started: missed beyond the catch-up limit, or the previous run still running.
    SKIPPED = "skipped"
    #: The run could not be started (its input was refused) or a trigger's poll raised.
    ERROR = "error"


@dataclass(slots=True)
class ScheduleRecord:
    """One schedule as the journal holds it. Times: epoch seconds, due times epoch ms."""

    schedule_id: str
    name: str | None
    #: ``"cron"`` (fires at the due times of ``cron_expression``) or ``"trigger"`` (polled).
    kind: str
    #: The authoring style whose planner builds its runs (``"dag"``, ``"flow"``, ``"steps"``).
    style: str
    workflow_name: str
    input_json: str
    cron_expression: str | None
    timezone: str
    poll_interval_ms: int | None
    allow_concurrent: bool
    enabled: bool
    next_due_ms: int | None
    last_run_at: float | None
    last_run_id: str | None
    last_poll_at: float | None
    version: int
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Iterable[Any]) -> ScheduleRecord:
        values = list(row)
        values[9] = bool(values[9])
        values[10] = bool(values[10])
        return cls(*values)


@dataclass(slots=True)
class FireRecord:
    """One due time of a schedule and what became of it (with its run's status)."""

    schedule_id: str
    due_ms: int
    outcome: str
    run_id: str | None
    claimed_at: float
    skipped_count: int
    context_hash: str | None
    detail: str | None
    run_status: str | None = None
    run_ended_at: float | None = None


class ScheduleStore:
    """Schedules and fires of one SQLite or PostgreSQL journal."""

    def __init__(self, journal: Journal) -> None:
        from taskloom.journal.sql_journal import SqlJournal

        if not isinstance(journal, SqlJournal):
            raise NotImplementedError(
                f"the {type(journal).__name__} keeps no schedules: use a sqlite:// or "
                "postgresql:// database"
            )
        self.journal = journal
        self.postgres = type(journal).__name__ == "PostgresJournal"
        self._q = load_queries(
            "postgres_schedules.sql" if self.postgres else "sqlite_schedules.sql"
        )
        channel: Callable[[str], str] | None = getattr(journal, "channel", None)
        #: The NOTIFY channel of edits (PostgreSQL), else None.
        self.channel = channel(CHANGES) if self.postgres and channel is not None else None

    # -- plumbing -------------------------------------------------------------

    def _rows(self, query: str, params: dict[str, Any]) -> list[Any]:
        journal: Any = self.journal
        if self.postgres:
            with journal.connection() as conn:
                rows: list[Any] = conn.execute(self._q[query], params).fetchall()
                return rows
        with journal._lock:
            found: list[Any] = journal._conn.execute(self._q[query], params).fetchall()
            return found

    def _announce(self, conn: Any) -> None:
        """Tell the other processes that the schedules changed (in the edit's transaction)."""
        if self.postgres:
            conn.execute(self._q["notify"], {"channel": self.channel})
        else:
            conn.execute(self._q["bump_changes"], {})

    def _edit(self, query: str, params: dict[str, Any]) -> bool:
        with self.journal._transaction() as conn:
            changed = conn.execute(self._q[query], params).rowcount == 1
            if changed:
                self._announce(conn)
            return bool(changed)

    # -- schedules -------------------------------------------------------------

    def create(self, record: ScheduleRecord) -> bool:
        """Insert a new schedule; False if its id or name is taken."""
        params = {
            "schedule_id": record.schedule_id,
            "name": record.name,
            "kind": record.kind,
            "style": record.style,
            "workflow_name": record.workflow_name,
            "input_json": record.input_json,
            "cron_expression": record.cron_expression,
            "timezone": record.timezone,
            "poll_interval_ms": record.poll_interval_ms,
            "allow_concurrent": record.allow_concurrent,
            "enabled": record.enabled,
            "next_due_ms": record.next_due_ms,
            "now": record.created_at,
        }
        return self._edit("insert_schedule", params)

    def get(self, schedule_id: str) -> ScheduleRecord | None:
        rows = self._rows("get_schedule", {"schedule_id": schedule_id})
        return ScheduleRecord.from_row(rows[0]) if rows else None

    def get_by_name(self, name: str) -> ScheduleRecord | None:
        rows = self._rows("get_schedule_by_name", {"name": name})
        return ScheduleRecord.from_row(rows[0]) if rows else None

    def list_schedules(
        self,
        *,
        kind: str | None = None,
        enabled_only: bool = False,
        named_only: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ScheduleRecord]:
        """Schedules, oldest first (``limit=None``: all)."""
        params = {
            "kind": kind,
            "enabled_only": enabled_only,
            "named_only": named_only,
            "limit": limit if limit is not None else (None if self.postgres else -1),
            "offset": offset,
        }
        return [ScheduleRecord.from_row(r) for r in self._rows("list_schedules", params)]

    def update_cron(
        self, schedule_id: str, expression: str, timezone: str, next_due_ms: int
    ) -> bool:
        params = {
            "schedule_id": schedule_id,
            "cron_expression": expression,
            "timezone": timezone,
            "next_due_ms": next_due_ms,
            "now": time.time(),
        }
        return self._edit("update_cron", params)

    def set_enabled(self, schedule_id: str, enabled: bool, next_due_ms: int | None) -> bool:
        params = {
            "schedule_id": schedule_id,
            "enabled": enabled,
            "next_due_ms": next_due_ms,
            "now": time.time(),
        }
        return self._edit("set_enabled", params)

    def redefine(self, record: ScheduleRecord) -> bool:
        """Replace the definition of a named schedule (a trigger whose code changed)."""
        params = {
            "schedule_id": record.schedule_id,
            "kind": record.kind,
            "style": record.style,
            "workflow_name": record.workflow_name,
            "cron_expression": record.cron_expression,
            "timezone": record.timezone,
            "poll_interval_ms": record.poll_interval_ms,
            "allow_concurrent": record.allow_concurrent,
            "next_due_ms": record.next_due_ms,
            "now": time.time(),
        }
        return self._edit("redefine", params)

    def delete(self, schedule_id: str) -> bool:
        """Remove a schedule; its fires stay (its runs still name it)."""
        return self._edit("delete_schedule", {"schedule_id": schedule_id})

    def change_version(self) -> int:
        """SQLite: the edit counter other processes compare to learn of edits."""
        rows = self._rows("change_version", {})
        return int(rows[0][0]) if rows else 0

    # -- firing ----------------------------------------------------------------

    def claim(
        self, record: ScheduleRecord, due_ms: int, next_due_ms: int, *, poll: bool = False
    ) -> bool:
        """Move the schedule past ``due_ms`` if nobody did (its own transaction)."""
        with self.journal._transaction() as conn:
            return self._claim(conn, record, due_ms, next_due_ms, poll)

    def _claim(
        self, conn: Any, record: ScheduleRecord, due_ms: int, next_due_ms: int, poll: bool
    ) -> bool:
        params = {
            "schedule_id": record.schedule_id,
            "version": record.version,
            "due_ms": due_ms,
            "next_due_ms": next_due_ms,
            "poll_at": time.time() if poll else None,
        }
        return bool(conn.execute(self._q["claim_due"], params).rowcount == 1)

    def fire(
        self,
        record: ScheduleRecord,
        due_ms: int,
        next_due_ms: int | None,
        run_id: str,
        insert_run: Callable[[Any], None],
        *,
        context_hash: str | None = None,
    ) -> str | None:
        """Record the fire of ``due_ms`` and, in the same transaction, its run.

        ``next_due_ms``: claim the due time first (cron); None when it was
        claimed already (a trigger's poll). Returns the outcome
        (:class:`FireOutcome`), or None if another process had the due time.
        With ``allow_concurrent`` off, a run is not started while the
        schedule's previous run is still running: the fire is recorded as
        skipped instead.
        """
        try:
            return self._fire(record, due_ms, next_due_ms, run_id, insert_run, context_hash)
        except _Taken:
            return None

    def _fire(
        self,
        record: ScheduleRecord,
        due_ms: int,
        next_due_ms: int | None,
        run_id: str,
        insert_run: Callable[[Any], None],
        context_hash: str | None,
    ) -> str | None:
        now = time.time()
        with self.journal._transaction() as conn:
            if next_due_ms is not None and not self._claim(
                conn, record, due_ms, next_due_ms, False
            ):
                return None
            outcome = FireOutcome.STARTED
            detail = None
            if not record.allow_concurrent:
                # The last run as recorded now (another process may have started it).
                params = {"schedule_id": record.schedule_id}
                row = conn.execute(self._q["last_run_status"], params).fetchone()
                if row is not None and row[1] == RunStatus.RUNNING:
                    outcome = FireOutcome.SKIPPED
                    detail = f"the previous run {row[0]} is still running"
            fire = {
                "schedule_id": record.schedule_id,
                "due_ms": due_ms,
                "outcome": outcome,
                "run_id": run_id if outcome == FireOutcome.STARTED else None,
                "claimed_at": now,
                "skipped_count": 1 if outcome == FireOutcome.SKIPPED else 0,
                "context_hash": context_hash,
                "detail": detail,
            }
            if conn.execute(self._q["insert_fire"], fire).rowcount != 1:
                raise _Taken  # the key says another process fired it: roll back
            if outcome == FireOutcome.STARTED:
                insert_run(conn)
                conn.execute(
                    self._q["record_last_run"],
                    {"schedule_id": record.schedule_id, "at": now, "run_id": run_id},
                )
            return outcome

    def record(
        self,
        record: ScheduleRecord,
        due_ms: int,
        outcome: str,
        *,
        next_due_ms: int | None = None,
        skipped_count: int = 0,
        detail: str | None = None,
    ) -> bool:
        """Record a due time that started no run (skipped, or failed to start)."""
        with self.journal._transaction() as conn:
            if next_due_ms is not None and not self._claim(
                conn, record, due_ms, next_due_ms, False
            ):
                return False
            fire = {
                "schedule_id": record.schedule_id,
                "due_ms": due_ms,
                "outcome": outcome,
                "run_id": None,
                "claimed_at": time.time(),
                "skipped_count": skipped_count,
                "context_hash": None,
                "detail": detail,
            }
            return bool(conn.execute(self._q["insert_fire"], fire).rowcount == 1)

    # -- history ----------------------------------------------------------------

    def history(
        self, schedule_id: str, limit: int | None = None, offset: int = 0
    ) -> list[FireRecord]:
        """The schedule's fires, newest due time first, with their runs' status."""
        params = {
            "schedule_id": schedule_id,
            "limit": limit if limit is not None else (None if self.postgres else -1),
            "offset": offset,
        }
        return [FireRecord(*row) for row in self._rows("fire_history", params)]

    def stats(self, since: float) -> tuple[int, int, int]:
        """``(started, completed, without a run)`` over fires claimed at or after ``since``."""
        rows = self._rows("fire_stats", {"since": since})
        total, completed, lost = rows[0] if rows else (0, 0, 0)
        return int(total or 0), int(completed or 0), int(lost or 0)

    def origins(self, run_ids: list[str]) -> dict[str, tuple[str, str, str | None]]:
        """For the runs a schedule started: ``run_id -> (schedule_id, kind, name)``."""
        if not run_ids:
            return {}
        ids: Any = run_ids if self.postgres else json.dumps(run_ids)
        rows = self._rows("origins", {"run_ids": ids})
        return {r[0]: (r[1], r[2] or "cron", r[3]) for r in rows}


class _Taken(Exception):
    """Another process recorded this due time first (rolls the transaction back)."""
