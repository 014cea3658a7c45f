"""Workers vacuum the queue tables once dead rows pile up (taskloom.journal.postgres_vacuum).

The dead rows are made with plain SQL on the journal's own tables, then the
vacuum is asked to look; the statistics it reads come from PostgreSQL, so
each test waits (briefly) until the server has counted the dead rows.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pytest

from taskloom import Client, Worker, WorkflowBuilder, task
from taskloom.journal.pgconnect import connect, quote_ident
from taskloom.journal.postgres import PostgresJournal
from taskloom.journal.postgres_vacuum import DEAD_ROWS_MIN, QueueVacuum

pytest.importorskip("psycopg")


@pytest.fixture
def journal(pg_schema_url: str) -> Iterator[PostgresJournal]:
    opened = PostgresJournal(pg_schema_url)
    yield opened
    opened.close()


def _churn(journal: PostgresJournal, rows: int) -> None:
    """``rows`` task rows, each updated once: ``rows`` dead row versions."""
    run_id = f"churn-{uuid.uuid4().hex[:8]}"
    with connect(journal.conninfo) as conn:  # closing it flushes its statistics at once
        conn.execute(f"SET search_path TO {quote_ident(journal.schema)}")
        conn.execute(
            "INSERT INTO runs (run_id, workflow_name, workflow_version, kind, status, "
            "input_json, created_at, open_tasks) "
            "VALUES (%s, 'w', 'v', 'dag', 'Running', '{}', 0, %s)",
            (run_id, rows),
        )
        conn.execute(
            "INSERT INTO task_runs (run_id, task_key, status, attempt, seq, remaining_deps, "
            "ready_at, workflow) "
            "SELECT %s, 'k' || i, 'Ready', 0, i, 0, 0, 'w@v' FROM generate_series(1, %s) i",
            (run_id, rows),
        )
        conn.execute("UPDATE task_runs SET status = 'Completed' WHERE run_id = %s", (run_id,))


def _stats(journal: PostgresJournal, table: str) -> tuple[int, int]:
    """``(n_dead_tup, vacuum_count)`` of one of the journal's tables."""
    with journal.connection() as conn:
        row = conn.execute(
            "SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables "
            "WHERE schemaname = %s AND relname = %s",
            (journal.schema, table),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _wait_for_dead_rows(journal: PostgresJournal, at_least: int) -> None:
    deadline = time.monotonic() + 15
    while _stats(journal, "task_runs")[0] < at_least:
        assert time.monotonic() < deadline, "the server never counted the dead rows"
        time.sleep(0.1)


def test_a_table_with_many_dead_rows_is_vacuumed(journal: PostgresJournal) -> None:
    _churn(journal, DEAD_ROWS_MIN + 500)
    _wait_for_dead_rows(journal, DEAD_ROWS_MIN + 500)
    vacuum = QueueVacuum(journal)
    try:
        assert vacuum.check() == ["task_runs"]
    finally:
        vacuum.stop()
    assert vacuum._conn is None  # stop() closed its connection
    dead, vacuums = _stats(journal, "task_runs")
    assert vacuums >= 1  # (autovacuum, where it is on, may have been there too)
    assert dead == 0
    assert vacuum.vacuums == 1


def test_a_table_with_few_dead_rows_is_left_alone(journal: PostgresJournal) -> None:
    _churn(journal, 100)
    _wait_for_dead_rows(journal, 100)
    vacuum = QueueVacuum(journal)
    try:
        assert vacuum.check() == []
    finally:
        vacuum.stop()
    assert vacuum.vacuums == 0


def test_a_table_another_worker_is_vacuuming_is_skipped(journal: PostgresJournal) -> None:
    _churn(journal, DEAD_ROWS_MIN + 500)
    _wait_for_dead_rows(journal, DEAD_ROWS_MIN + 500)
    with connect(journal.conninfo) as other:
        other.execute(f"SET search_path TO {quote_ident(journal.schema)}")
        other.execute(
            "SELECT pg_advisory_lock(hashtext(current_schema() || ':taskloom-vacuum:task_runs'))"
        )
        vacuum = QueueVacuum(journal)
        try:
            assert vacuum.check() == []
        finally:
            vacuum.stop()
    assert vacuum.vacuums == 0


@dataclass
class _Target:
    """What QueueVacuum reads of a journal: where to connect and which schema."""

    conninfo: str
    schema: str


def test_a_role_that_may_not_vacuum_stops_trying_and_says_why(
    journal: PostgresJournal, caplog: pytest.LogCaptureFixture
) -> None:
    role = f"tl_reader_{uuid.uuid4().hex[:8]}"
    schema = quote_ident(journal.schema)
    with connect(journal.conninfo) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    try:
        _churn(journal, DEAD_ROWS_MIN + 500)
        _wait_for_dead_rows(journal, DEAD_ROWS_MIN + 500)
        parts = urlsplit(journal.conninfo)
        netloc = f"{role}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        conninfo = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        vacuum = QueueVacuum(_Target(conninfo, journal.schema))  # type: ignore[arg-type]
        with caplog.at_level(logging.INFO, logger="taskloom"):
            try:
                assert vacuum.check() == []
            finally:
                vacuum.stop()
        assert vacuum.vacuums == 0
        assert any("not vacuumed by the workers" in r.getMessage() for r in caplog.records)
    finally:
        with connect(journal.conninfo) as admin:
            admin.execute(f"REVOKE USAGE ON SCHEMA {schema} FROM {role}")
            admin.execute(f"DROP ROLE {role}")


def _define_fan(width: int) -> None:
    with WorkflowBuilder("vacuum_fan"):
        for i in range(width):

            @task(id=f"t{i}")
            def noop(ctx: object) -> object:
                return ctx


def test_a_worker_vacuums_while_it_works_unless_told_not_to(pg_schema_url: str) -> None:
    _define_fan(50)
    assert Worker(pg_schema_url, workflows=["vacuum_fan"], vacuum=False).vacuum is None
    worker = Worker(pg_schema_url, workflows=["vacuum_fan"], concurrency=16)
    assert worker.vacuum is not None
    worker.vacuum.interval = 0.2
    worker.start()
    try:
        with Client(pg_schema_url) as client:
            # 60 runs x 50 tasks, each row updated at least twice (claimed, completed).
            runs = [client.submit("vacuum_fan") for _ in range(60)]
            for run_id in runs:
                assert client.result(run_id, timeout=60).status == "Completed"
            deadline = time.monotonic() + 15
            while worker.vacuum.vacuums == 0:
                assert time.monotonic() < deadline, "the worker never vacuumed"
                time.sleep(0.1)
    finally:
        worker.stop(timeout=10)
    stats = PostgresJournal(pg_schema_url)
    try:
        assert _stats(stats, "task_runs")[1] >= 1
    finally:
        stats.close()


def test_dead_rows_an_old_transaction_holds_are_not_vacuumed_for_again_and_again(
    journal: PostgresJournal, caplog: pytest.LogCaptureFixture
) -> None:
    """VACUUM cannot remove rows an open snapshot may still see, and the statistics count
    them as dead again at once: the next checks must not vacuum again for them."""
    with connect(journal.conninfo, autocommit=False) as reader:
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT 1")  # takes the snapshot that holds the dead rows
        _churn(journal, DEAD_ROWS_MIN + 500)
        _wait_for_dead_rows(journal, DEAD_ROWS_MIN + 500)
        vacuum = QueueVacuum(journal)
        try:
            with caplog.at_level(logging.INFO, logger="taskloom"):
                assert vacuum.check() == ["task_runs"]
                assert _stats(journal, "task_runs")[0] >= DEAD_ROWS_MIN + 500  # still there
                assert vacuum.check() == []
                assert vacuum.check() == []
            assert vacuum.vacuums == 1
            assert any("an old transaction" in r.getMessage() for r in caplog.records)
            # New dead rows beyond what was left make the table due again.
            _churn(journal, DEAD_ROWS_MIN + 500)
            _wait_for_dead_rows(journal, 2 * (DEAD_ROWS_MIN + 500))
            assert vacuum.check() == ["task_runs"]
        finally:
            vacuum.stop()
            reader.rollback()
