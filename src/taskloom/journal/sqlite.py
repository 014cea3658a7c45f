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

import json
import logging
import pathlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from taskloom.errors import JournalError
from taskloom.journal.records import RunRecord, RunUpdate
from taskloom.journal.sql_journal import SqlJournal
from taskloom.journal.sqlfiles import load_queries, migrations, read_script

logger = logging.getLogger("taskloom")

#: Schema migrations ``(version, file)`` in order; the last version is the newest.
MIGRATIONS: tuple[tuple[int, str], ...] = migrations("sqlite")
LATEST_VERSION = MIGRATIONS[-1][0]

_SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

#: Most event rows written with one multi-row INSERT (5 parameters each).
_MULTI_ROW_MAX = 16


class SQLiteJournal(SqlJournal):
    """Journal stored in a SQLite database file (or ``:memory:``)."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "NORMAL",
        busy_timeout_s: float = 60.0,
        url: str | None = None,
        read_only: bool = False,
    ) -> None:
        mode = synchronous.upper()
        if mode not in _SYNCHRONOUS_MODES:
            valid = ", ".join(_SYNCHRONOUS_MODES)
            raise ValueError(f"synchronous={synchronous!r} is not valid; use one of {valid}")
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self._q = load_queries("sqlite_queries.sql") | load_queries("sqlite_deploys.sql")
        self._events_sql: dict[int, str] = {}
        self._lock = threading.RLock()
        self.read_only = read_only
        try:
            if read_only:
                # Opened read-only (a dashboard on a file it may not write): no WAL
                # switch, no migration; the file must already be a journal.
                self._conn = sqlite3.connect(
                    f"{pathlib.Path(path).resolve().as_uri()}?mode=ro",
                    uri=True,
                    timeout=busy_timeout_s,
                    isolation_level=None,
                    check_same_thread=False,
                )
                self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                self._conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
                return
            self._conn = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if path != ":memory:":
                self._enable_wal(busy_timeout_s)
            self._conn.execute(f"PRAGMA synchronous = {mode}")
            self._migrate()
        except BaseException as exc:
            if getattr(self, "_conn", None) is not None:
                self._conn.close()
            if isinstance(exc, sqlite3.Error):
                raise journal_error(path, "open the SQLite journal at", exc) from exc
            raise

    def _enable_wal(self, busy_timeout_s: float) -> None:
        """Switch the file to WAL, waiting out other processes doing the same.

        Changing the journal mode needs an exclusive lock, and SQLite returns
        "database is locked" at once, without the busy handler, when two fresh
        connections race to upgrade their shared locks. WAL is persistent, so
        once any process has switched the file the mode only needs reading.
        """
        deadline = time.monotonic() + busy_timeout_s
        delay = 0.001
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    # It still works (a rollback journal), only with readers blocking writers.
                    logger.warning(
                        "taskloom: the SQLite journal at %r cannot use WAL mode (it stays in "
                        "%r); put it on a local file system for concurrent readers",
                        self.path,
                        mode,
                    )
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    # -- schema -----------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema to the newest version; safe from many processes at once.

        Each applied migration is recorded by number (``schema_migrations``), and
        every one not recorded is applied, in order: features built side by side
        add migrations whose numbers need not arrive in order. ``user_version``
        stays the newest number (what 0.1 journals recorded, all contiguous).
        """
        with self._transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > LATEST_VERSION:
                raise JournalError(
                    f"the journal at {self.path!r} has schema version {version}, newer than "
                    f"this taskloom knows ({LATEST_VERSION}); upgrade taskloom"
                )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
            if not applied:  # a journal from before the table: its versions were contiguous
                applied = {n for n, _ in MIGRATIONS if n <= version}
                conn.executemany(
                    "INSERT INTO schema_migrations VALUES (?, ?)",
                    [(n, time.time()) for n in sorted(applied)],
                )
            for number, filename in MIGRATIONS:
                if number in applied:
                    continue
                for statement in read_script(filename).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, time.time()))
                version = max(version, number)
                conn.execute(f"PRAGMA user_version = {version}")

    def _id_list(self, ids: Sequence[str]) -> Any:
        return json.dumps(list(ids))

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
                raise journal_error(self.path, "write the journal at", exc) from exc
            try:
                yield conn
            except BaseException as exc:
                # SQLite already rolled back after some errors (a full disk): a
                # second ROLLBACK would hide the cause behind "no transaction is active".
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise journal_error(self.path, "write the journal at", exc) from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise journal_error(self.path, "commit to the journal at", exc) from exc

    def _read(self, query: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            return self._conn.execute(self._q[query], params).fetchall()

    def _read_sql(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _executemany(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if len(rows) == 1:  # the usual batch of one task row: execute is cheaper
            conn.execute(sql, rows[0])
        else:
            conn.executemany(sql, rows)

    def _insert_events(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        # A few rows in one multi-row INSERT (one statement instead of one per
        # row); its text per row count is cached, so SQLite's statement cache
        # keeps the prepared statements.
        count = len(rows)
        if count > _MULTI_ROW_MAX:
            conn.executemany(self._q["insert_event"], rows)
            return
        sql = self._events_sql.get(count)
        if sql is None:
            values = ", ".join(["(?, ?, ?, ?, ?)"] * count)
            sql = self._events_sql[count] = (
                f"INSERT INTO events (run_id, task_key, kind, at, data_json) VALUES {values}"
            )
        conn.execute(sql, [value for row in rows for value in row])

    # -- values written once (schema version 5) ----------------------------

    def _insert_run(self, conn: Any, run: RunRecord) -> None:
        # The input goes to run_inputs, a row never updated: the runs row stays
        # small, so its status changes do not copy the input again.
        row = (
            run.run_id,
            run.workflow_name,
            run.workflow_version,
            run.kind,
            run.status,
            "",
            run.final_json,
            run.error,
            run.owner_id,
            run.created_at,
            run.ended_at,
        )
        conn.execute(self._q["insert_run"], row)
        conn.execute(self._q["insert_run_input"], (run.run_id, run.input_json))

    def _run_update_rows(self, runs: Sequence[RunUpdate]) -> list[tuple[Any, ...]]:
        # A result that is a task's output is read from that task's row.
        return [
            (
                r.status,
                None if r.final_task else r.final_json,
                r.error,
                r.ended_at,
                r.final_task,
                r.run_id,
            )
            for r in runs
        ]

    # -- signal inbox -----------------------------------------------------

    def send_signal(self, run_id: str, name: str, payload_json: str, at: float) -> int:
        with self._transaction() as conn:
            cursor = conn.execute(self._q["insert_signal"], (run_id, name, payload_json, at))
            return int(cursor.lastrowid or 0)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


#: SQLite's primary result codes that have a cause worth naming.
_SQLITE_READONLY, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 13, 14


def journal_error(path: str, doing: str, exc: sqlite3.Error) -> JournalError:
    """A JournalError that says what happened (full disk, read-only file) and what is safe."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    where = f"{doing} {path!r}"
    if code == _SQLITE_FULL:
        return JournalError(
            f"cannot {where}: the disk is full. SQLite rolled the transaction back, so "
            "nothing already recorded was lost; free space (or move the journal) and resume "
            f"the unfinished runs ({exc})"
        )
    if code == _SQLITE_READONLY:
        return JournalError(
            f"cannot {where}: the journal is read-only -- the file, or its folder, which "
            f"must be writable for SQLite's {path}-wal and {path}-shm files. Nothing was "
            f"written and nothing recorded was lost; make them writable ({exc})"
        )
    if code == _SQLITE_CANTOPEN:
        return JournalError(
            f"cannot {where}: SQLite cannot open or create its files there (a missing or "
            f"read-only folder? it needs to create {path}-wal and {path}-shm beside the "
            f"journal) ({exc})"
        )
    return JournalError(f"cannot {where}: {exc}")
