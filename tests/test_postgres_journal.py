"""PostgreSQL-only journal behaviour: URLs, schemas, migrations, local execution.

The journal contract itself is tested for every backend in test_journal.py.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from taskloom import Context, DefaultRunner, WorkflowBuilder, task
from taskloom.errors import JournalError
from taskloom.journal.pgconnect import split_url, validate_name, with_schema
from taskloom.journal.urls import open_journal

pytest.importorskip("psycopg")

from taskloom.journal.postgres import LATEST_VERSION, MIGRATIONS, PostgresJournal


def test_both_url_schemes_open_the_same_tables(pg_url: str) -> None:
    first = open_journal(pg_url)
    second = open_journal(pg_url.replace("postgresql://", "postgres://", 1))
    try:
        assert isinstance(first, PostgresJournal) and isinstance(second, PostgresJournal)
        assert first.schema == second.schema == "public"
        assert first.schema_version == LATEST_VERSION
    finally:
        first.close()
        second.close()


def test_schema_option_keeps_tables_apart(pg_url: str) -> None:
    import psycopg

    journal = open_journal(with_schema(pg_url, "tenant_x"))
    try:
        assert isinstance(journal, PostgresJournal) and journal.schema == "tenant_x"
    finally:
        journal.close()
    with psycopg.connect(pg_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tenant_x'"
            )
        }
    assert {"runs", "task_runs", "events", "runners", "schema_version"} <= tables


@pytest.mark.parametrize("bad", ["", "a-b", "a;drop", "pg_x", "PG_x", "x" * 41, 'a"b', "é"])
def test_bad_schema_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="name"):
        validate_name(bad)


@pytest.mark.parametrize("good", ["Upper", "TenantA", "1abc", "tenant_123_abc", "x" * 40])
def test_cloacas_schema_names_are_accepted_as_given(good: str) -> None:
    assert validate_name(good) == good


def test_schema_query_option_is_not_passed_to_libpq() -> None:
    conninfo, schema = split_url("postgresql://u@h/db?schema=abc&connect_timeout=5")
    assert schema == "abc"
    assert conninfo == "postgresql://u@h/db?connect_timeout=5"


@pytest.mark.timeout(60)
def test_processes_migrating_a_new_database_at_once_all_succeed(pg_url: str) -> None:
    """Eight processes open the same fresh schema at the same moment: one migrates."""
    start_at = time.time() + 1.5
    script = (
        "import sys, time\n"
        "from taskloom.journal.urls import open_journal\n"
        f"time.sleep(max(0, {start_at} - time.time()))\n"
        "j = open_journal(sys.argv[1]); print(j.schema_version); j.close()\n"
    )
    url = with_schema(pg_url, "raced")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=50) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == str(LATEST_VERSION)
    import psycopg

    with psycopg.connect(pg_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM raced.schema_version")]
    assert sorted(versions) == [number for number, _ in MIGRATIONS]


def test_newer_schema_version_is_refused(pg_url: str) -> None:
    import psycopg

    open_journal(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(JournalError, match="newer than this taskloom knows"):
        open_journal(pg_url)


def test_unreachable_server_gives_journal_error() -> None:
    with pytest.raises(JournalError, match="cannot open the PostgreSQL journal"):
        open_journal("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_default_runner_executes_locally_on_postgres(pg_schema_url: str) -> None:
    """Without execute=False a runner owns its runs, exactly as on SQLite."""
    with WorkflowBuilder("pg_local"):

        @task(id="one")
        def one(ctx: Context) -> Context:
            ctx.set("a", 1)
            return ctx

        @task(id="two", dependencies=["one"])
        def two(ctx: Context) -> Context:
            ctx.set("b", ctx.get("a") + 1)
            return ctx

    with DefaultRunner(pg_schema_url) as runner:
        result = runner.execute("pg_local", {"x": 0})
        assert result.status == "Completed"
        assert result.final_context.to_dict() == {"x": 0, "a": 1, "b": 2}
        recorded = runner.journal.get_tasks(result.run_id)
        assert [(t.task_key, t.status) for t in recorded] == [
            ("one", "Completed"),
            ("two", "Completed"),
        ]


def test_result_cache_lives_in_the_postgres_journal(pg_schema_url: str) -> None:
    journal = open_journal(pg_schema_url)
    other = open_journal(pg_schema_url)
    try:
        now = time.time()
        assert journal.cache_get("k", now) is None
        journal.cache_put("k", '{"v": 1}', now + 60)
        assert other.cache_get("k", now) == '{"v": 1}'  # shared by every connection
        journal.cache_put("k", "null", now + 60)  # replaced, and None is a value too
        assert other.cache_get("k", now) == "null"
        journal.cache_put("short", "1", now + 0.5)
        assert journal.cache_get("short", now + 1.0) is None  # expired
    finally:
        journal.close()
        other.close()


def test_signal_ids_grow_and_are_read_with_a_cursor(pg_schema_url: str) -> None:
    journal = open_journal(pg_schema_url)
    try:
        assert journal.latest_signal_id() == 0
        first = journal.send_signal("run-a", "go", '{"n": 1}', 1.0)
        second = journal.send_signal("run-b", "go", '{"n": 2}', 2.0)
        third = journal.send_signal("run-a", "stop", "null", 3.0)
        assert first < second < third == journal.latest_signal_id()
        inbox = journal.get_signals("run-a")
        assert [(s.name, s.payload_json) for s in inbox] == [("go", '{"n": 1}'), ("stop", "null")]
        assert [s.name for s in journal.get_signals("run-a", after_id=first)] == ["stop"]
        assert journal.signals_after(first) == [(second, "run-b"), (third, "run-a")]
    finally:
        journal.close()
