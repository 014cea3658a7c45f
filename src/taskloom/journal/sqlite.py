"""The embedded journal: one SQLite file in WAL mode.

Why these settings:

* WAL lets readers (the CLI, other runners) work while one process writes.
* ``synchronous=NORMAL`` (the default) makes a commit cost no fsync; a power
  loss can drop the last commits but never corrupts the file. ``FULL`` is
  available for those who need every commit on disk.
* Every write transaction starts with ``BEGIN IMMEDIATE`` and a long busy
  timeout, so processes sharing the file queue for the write lock instead of
  failing with "database is locked" when a reader tries to upgrade.
* One connection per journal, guarded by a lock: the engine writes from its
  event-loop thread, callers read from theirs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from taskloom.errors import JournalError
from taskloom.journal.base import Journal
from taskloom.journal.records import (
    Batch,
    EventRecord,
    RunnerRecord,
    RunRecord,
    SignalRecord,
    TaskRecord,
)
from taskloom.journal.sqlfiles import load_queries, read_script

#: Schema migrations in order; the index + 1 is the schema version.
MIGRATIONS: tuple[str, ...] = (
    "sqlite_001_initial.sql",
    "sqlite_002_cache.sql",
    "sqlite_003_signals.sql",
)

_SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class SQLiteJournal(Journal):
    """Journal stored in a SQLite database file (or ``:memory:``)."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "NORMAL",
        busy_timeout_s: float = 60.0,
        url: str | None = None,
    ) -> None:
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            valid = ", ".join(_SYNCHRONOUS_MODES)
            raise ValueError(f"synchronous={synchronous!r} is not valid; use one of {valid}")
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self._q = load_queries("sqlite_queries.sql")
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute(f"PRAGMA synchronous = {mode}")
            self._migrate()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the SQLite journal at {path!r}: {exc}") from exc

    # -- schema -----------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema to the newest version; safe from many processes at once."""
        with self._transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise JournalError(
                    f"the journal at {self.path!r} has schema version {version}, newer than "
                    f"this taskloom knows ({len(MIGRATIONS)}); upgrade taskloom"
                )
            for number, filename in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in read_script(filename).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise JournalError(f"cannot write the journal at {self.path!r}: {exc}") from exc
            try:
                yield conn
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise JournalError(f"cannot write the journal at {self.path!r}: {exc}") from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise JournalError(f"cannot commit to the journal at {self.path!r}: {exc}") from exc

    def _read(self, query: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            return self._conn.execute(self._q[query], params).fetchall()

    # -- writes -----------------------------------------------------------

    def create_run(self, run: RunRecord, tasks: Sequence[TaskRecord]) -> None:
        with self._transaction() as conn:
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
            conn.executemany(self._q["upsert_task"], [_task_row(t) for t in tasks])

    def write(self, batch: Batch) -> None:
        if not batch:
            return
        with self._transaction() as conn:
            if batch.tasks:
                conn.executemany(self._q["upsert_task"], [_task_row(t) for t in batch.tasks])
            if batch.events:
                conn.executemany(
                    self._q["insert_event"],
                    [(e.run_id, e.task_key, e.kind, e.at, e.data_json) for e in batch.events],
                )
            if batch.runs:
                conn.executemany(
                    self._q["update_run"],
                    [(r.status, r.final_json, r.error, r.ended_at, r.run_id) for r in batch.runs],
                )

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
            return cursor.rowcount == 1

    # -- signal inbox -----------------------------------------------------

    def send_signal(self, run_id: str, name: str, payload_json: str, at: float) -> int:
        with self._transaction() as conn:
            cursor = conn.execute(self._q["insert_signal"], (run_id, name, payload_json, at))
            return int(cursor.lastrowid or 0)

    def get_signals(self, run_id: str, after_id: int = 0) -> list[SignalRecord]:
        return [SignalRecord(*row) for row in self._read("get_signals", (run_id, after_id))]

    def signals_after(self, after_id: int) -> list[tuple[int, str]]:
        return [(int(i), str(r)) for i, r in self._read("signals_after", (after_id,))]

    def latest_signal_id(self) -> int:
        return int(self._read("latest_signal_id", ())[0][0])

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

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _task_row(t: TaskRecord) -> tuple[Any, ...]:
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
