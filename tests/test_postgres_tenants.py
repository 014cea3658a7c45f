"""Tenants: a schema and a role each, isolated by PostgreSQL's own privileges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from taskloom import Context, DatabaseAdmin, DefaultRunner, TenantConfig, WorkflowBuilder, task
from taskloom.errors import JournalError
from taskloom.journal.urls import open_journal

pytest.importorskip("psycopg")


@pytest.fixture
def admin(pg_url: str) -> Iterator[DatabaseAdmin]:
    yield DatabaseAdmin(pg_url)


def _names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"tenant_{suffix}", f"user_{suffix}"


def _define() -> None:
    with WorkflowBuilder("tenant_wf"):

        @task(id="step")
        def step(ctx: Context) -> Context:
            ctx.set("done", True)
            return ctx


def test_tenants_run_workflows_and_cannot_read_each_other(admin: DatabaseAdmin) -> None:
    import psycopg

    _define()
    (schema_a, user_a), (schema_b, user_b) = _names(), _names()
    creds_a = admin.create_tenant(TenantConfig(schema_a, user_a, password="secret-a"))
    creds_b = admin.create_tenant(TenantConfig(schema_b, user_b))
    try:
        assert creds_a.password == "secret-a" and creds_b.password  # generated
        assert "search_path" in creds_a.connection_string
        with DefaultRunner(creds_a.connection_string) as runner_a:
            run_a = runner_a.execute("tenant_wf").run_id
        with DefaultRunner(creds_b.connection_string) as runner_b:
            assert runner_b.journal.get_run(run_a) is None
            assert runner_b.journal.list_runs() == []
        # Not even hand-written SQL gets through: the privileges are PostgreSQL's.
        with (
            psycopg.connect(creds_b.connection_string) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(f"SELECT * FROM {schema_a}.runs")
        journal_a = open_journal(creds_a.connection_string)
        try:
            assert [r.run_id for r in journal_a.list_runs()] == [run_a]
        finally:
            journal_a.close()
    finally:
        admin.remove_tenant(schema_a, user_a)
        admin.remove_tenant(schema_b, user_b)
    with psycopg.connect(admin.url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname IN (%s, %s)", (schema_a, schema_b)
        ).fetchone()
        assert left == (0,)


def test_with_schema_keeps_runs_apart(pg_url: str) -> None:
    _define()
    with DefaultRunner.with_schema(pg_url, "team_one") as one:
        run_id = one.execute("tenant_wf").run_id
    with DefaultRunner.with_schema(pg_url, "team_two") as two:
        assert two.journal.get_run(run_id) is None
    with pytest.raises(ValueError, match="not valid"):
        DefaultRunner.with_schema(pg_url, "bad-name")
    with pytest.raises(ValueError, match="postgresql"):
        DefaultRunner.with_schema("sqlite://x.db", "team_one")


def test_duplicate_tenant_role_is_refused(admin: DatabaseAdmin) -> None:
    schema, user = _names()
    admin.create_tenant(TenantConfig(schema, user))
    try:
        with pytest.raises(JournalError, match="already exists"):
            admin.create_tenant(TenantConfig(schema + "_2", user))
    finally:
        admin.remove_tenant(schema, user)


def test_bad_tenant_names_are_refused() -> None:
    with pytest.raises(ValueError, match="not valid"):
        TenantConfig("ok_schema", "bad user")
    with pytest.raises(ValueError, match="not valid"):
        TenantConfig("Robert'); DROP TABLE runs;--", "user")
