"""What the SQL journals share: the same operations over named queries.

SQLite and PostgreSQL differ in their SQL (kept in ``sql/*.sql``), their
transactions and their connection handling; the mapping between records
and rows is the same, so it lives here once. A backend supplies the
queries (``_q``), a write transaction, a read, and ``executemany``.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from taskloom.journal.base import Journal
from taskloom.journal.records import (
    Batch,
    EventRecord,
    RunnerRecord,
    RunRecord,
    RunUpdate,
    SignalRecord,
    TaskRecord,
)
from taskloom.journal.run_control_records import RunControlRecords
from taskloom.journal.sql_browse import SqlBrowse


class SqlJournal(SqlBrowse, RunControlRecords, Journal):
    """A journal whose operations are named SQL queries."""

    #: Named queries of the backend (``journal/sql/<backend>_queries.sql``).
    _q: dict[str, str]

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """A write transaction; yields a connection with ``execute(sql, params)``."""

    @abstractmethod
    def _read(self, query: str, params: Sequence[Any]) -> list[Any]:
        """Rows of the named query."""

    @abstractmethod
    def _executemany(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run ``sql`` once per row inside the open transaction ``conn``."""

    def _insert_events(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert event rows (``insert_event`` parameters) in the open transaction."""
        self._executemany(conn, self._q["insert_event"], rows)

    # -- writes -----------------------------------------------------------

    def _insert_run(self, conn: Any, run: RunRecord) -> None:
        """Insert the run's row in the open transaction (a backend may store parts aside)."""
        conn.execute(
            self._q["insert_run"],
            (
                run.run_id,
                run.workflow_name,
                run.workflow_version,
                run.kind,
                run.status,
                run.input_json,
                run.final_json,
                run.error,
                run.owner_id,
                run.created_at,
                run.ended_at,
            ),
        )

    def _run_update_rows(self, runs: Sequence[RunUpdate]) -> list[tuple[Any, ...]]:
        """``update_run`` parameters of each update."""
        return [(r.status, r.final_json, r.error, r.ended_at, r.run_id) for r in runs]

    def create_run(self, run: RunRecord, tasks: Sequence[TaskRecord]) -> None:
        with self._transaction() as conn:
            self.insert_run(conn, run, tasks)

    def insert_run(self, conn: Any, run: RunRecord, tasks: Sequence[TaskRecord]) -> None:
        """:meth:`create_run` inside a transaction the caller holds (a schedule's fire)."""
        self._insert_run(conn, run)
        if tasks:
            self._executemany(conn, self._q["upsert_task"], [task_row(t) for t in tasks])

    def write(self, batch: Batch) -> None:
        if not batch:
            return
        with self._transaction() as conn:
            self.write_in(conn, batch)

    def write_in(self, conn: Any, batch: Batch) -> None:
        """:meth:`write`'s statements, inside the caller's open transaction ``conn``."""
        if batch.tasks:
            self._executemany(conn, self._q["upsert_task"], [task_row(t) for t in batch.tasks])
        if batch.events:
            self._insert_events(
                conn, [(e.run_id, e.task_key, e.kind, e.at, e.data_json) for e in batch.events]
            )
        if batch.runs:
            self._executemany(conn, self._q["update_run"], self._run_update_rows(batch.runs))

    # -- reads ------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._read("get_run", (run_id,))
        return RunRecord(*rows[0]) if rows else None

    def list_runs(self, limit: int = 20, status: str | None = None) -> list[RunRecord]:
        if status is None:
            rows = self._read("list_runs", (limit,))
        else:
            rows = self._read("list_runs_by_status", (status, limit))
        return [RunRecord(*row) for row in rows]

    def get_tasks(self, run_id: str) -> list[TaskRecord]:
        return [TaskRecord(*row) for row in self._read("get_tasks", (run_id,))]

    def get_events(self, run_id: str) -> list[EventRecord]:
        return [EventRecord(*row) for row in self._read("get_events", (run_id,))]

    def unfinished_runs(self) -> list[RunRecord]:
        return [RunRecord(*row) for row in self._read("unfinished_runs", ())]

    # -- ownership --------------------------------------------------------

    def register_runner(self, runner: RunnerRecord) -> None:
        with self._transaction() as conn:
            conn.execute(
                self._q["upsert_runner"],
                (
                    runner.runner_id,
                    runner.hostname,
                    runner.pid,
                    runner.started_at,
                    runner.heartbeat_at,
                ),
            )

    def heartbeat(self, runner_id: str, at: float) -> None:
        with self._transaction() as conn:
            conn.execute(self._q["heartbeat"], (at, runner_id))

    def unregister_runner(self, runner_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(self._q["delete_runner"], (runner_id,))

    def list_runners(self) -> list[RunnerRecord]:
        return [RunnerRecord(*row) for row in self._read("list_runners", ())]

    def claim_run(self, run_id: str, new_owner: str, expected_owner: str | None) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(self._q["claim_run"], (new_owner, run_id, expected_owner))
            if cursor.rowcount != 1:
                return False
            conn.execute(self._q["count_deaths"], (run_id,))
            return True

    # -- signal inbox -----------------------------------------------------

    def get_signals(self, run_id: str, after_id: int = 0) -> list[SignalRecord]:
        return [SignalRecord(*row) for row in self._read("get_signals", (run_id, after_id))]

    def signals_after(self, after_id: int) -> list[tuple[int, str]]:
        return [(int(i), str(r)) for i, r in self._read("signals_after", (after_id,))]

    def latest_signal_id(self) -> int:
        rows = self._read("latest_signal_id", ())
        return int(rows[0][0] or 0) if rows else 0

    # -- retention --------------------------------------------------------

    def prunable_runs(self, ended_before: float, statuses: Sequence[str], limit: int) -> list[str]:
        rows = self._read("prunable_runs", (ended_before, self._id_list(statuses), limit))
        return [str(r[0]) for r in rows]

    def delete_runs(self, run_ids: Sequence[str]) -> list[str]:
        ids = self._id_list(run_ids)
        with self._transaction() as conn:
            outputs = [str(r[0]) for r in conn.execute(self._q["pruned_outputs"], (ids,))]
            for name in ("delete_events", "delete_signals", "delete_tasks", "delete_runs"):
                conn.execute(self._q[name], (ids,))
        return outputs

    def _id_list(self, ids: Sequence[str]) -> Any:
        """How a list parameter is passed: a JSON array (SQLite), a real array (PostgreSQL)."""
        return list(ids)

    # -- result cache -----------------------------------------------------

    def cache_get(self, key: str, now: float) -> str | None:
        rows = self._read("cache_get", (key, now))
        return str(rows[0][0]) if rows else None

    def cache_put(self, key: str, value_json: str, expires_at: float) -> None:
        now = time.time()
        with self._transaction() as conn:
            conn.execute(self._q["cache_put"], (key, value_json, now, expires_at))
            # Expired rows are found through the expiry index, so this costs
            # only as much as there is garbage to drop.
            conn.execute(self._q["cache_purge"], (now,))


def task_row(t: TaskRecord) -> tuple[Any, ...]:
    """A task record as the parameters of the ``upsert_task`` query."""
    return (
        t.run_id,
        t.task_key,
        t.status,
        t.attempt,
        t.next_retry_at,
        t.started_at,
        t.ended_at,
        t.output_json,
        t.error,
        t.traceback,
        t.seq,
    )
