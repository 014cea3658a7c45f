"""Cloaca parity (issue 11): gating and fan-in, the error contract, value objects,
tenants, ``stop()`` and ``WorkflowResult`` -- all through ``import taskloom as cloaca``,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import inspect
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

import taskloom as cloaca
from taskloom.dag import computation_graph, reactor
from taskloom.errors import JournalError, RunnerSetupError, TaskloomError


@pytest.fixture(autouse=True)
def _clean_graphs() -> Iterator[None]:
    """Each test sees only the graphs and accumulators it defines."""
    saved = (dict(computation_graph._graphs), dict(reactor._transforms))
    yield
    computation_graph._graphs.clear()
    computation_graph._graphs.update(saved[0])
    reactor._transforms.clear()
    reactor._transforms.update(saved[1])


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    """The same test on a SQLite file and on a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("db_url"))
    return str(request.getfixturevalue("pg_schema_url"))


def _gated_workflow(name: str, gate: bool, ran: list[str]) -> None:
    with cloaca.WorkflowBuilder(name):

        @cloaca.task(id="source")
        def source(context: Any) -> Any:
            context.set("do_optional", gate)
            return context

        @cloaca.task(
            id="optional",
            dependencies=["source"],
            trigger_rules=cloaca.context_value("do_optional", "Equals", True),
        )
        def optional(context: Any) -> Any:
            ran.append("optional")
            context.set("optional_ran", True)
            return context

        @cloaca.task(id="always_sibling", dependencies=["source"])
        def always_sibling(context: Any) -> Any:
            context.set("sibling_ran", True)
            return context

        @cloaca.task(id="sink", dependencies=["optional", "always_sibling"])
        def sink(context: Any) -> Any:
            context.set("sink_ran", True)
            return context


# --------------------------------------------------------------------------- gating


def test_gated_task_is_skipped_and_fan_in_runs_with_the_sibling_output(url: str) -> None:
    ran: list[str] = []
    _gated_workflow("gating_off", False, ran)
    with cloaca.DefaultRunner(url) as runner:
        result = runner.execute("gating_off", cloaca.Context({}))
    assert result.status == "Completed"
    assert ran == []  # the gated task's body never ran
    statuses = {k: v.status for k, v in result.task_results.items()}
    assert statuses == {
        "source": "Completed",
        "optional": "Skipped",
        "always_sibling": "Completed",
        "sink": "Completed",
    }
    final = result.final_context
    assert final.get("optional_ran") is None
    assert final.get("sibling_ran") is True
    assert final.get("sink_ran") is True


def test_satisfied_gate_runs_the_task(url: str) -> None:
    ran: list[str] = []
    _gated_workflow("gating_on", True, ran)
    with cloaca.DefaultRunner(url) as runner:
        result = runner.execute("gating_on", cloaca.Context({}))
    assert result.status == "Completed"
    assert ran == ["optional"]
    assert result.final_context.get("optional_ran") is True
    assert result.final_context.get("sink_ran") is True


def test_task_whose_dependencies_were_all_gated_off_runs_with_their_context(url: str) -> None:
    """Cloaca's rule: a task runs once every dependency ended; a gated-off dependency
    passes on the context it was given, so the task still sees what flowed into it."""
    with cloaca.WorkflowBuilder("all_gated"):

        @cloaca.task(id="source")
        def source(context: Any) -> Any:
            context.set("from_source", 1)
            return context

        @cloaca.task(
            id="gated",
            dependencies=["source"],
            trigger_rules=cloaca.context_value("from_source", "Equals", 2),
        )
        def gated(context: Any) -> Any:
            raise AssertionError("gated off: must not run")

        @cloaca.task(id="after", dependencies=["gated"])
        def after(context: Any) -> Any:
            context.set("after_saw", context.get("from_source"))
            return context

        @cloaca.task(
            id="only_if_gated_ran",
            dependencies=["gated"],
            trigger_rules=cloaca.task_success("gated"),
        )
        def only_if_gated_ran(context: Any) -> Any:
            raise AssertionError("its rule asks for gated to have completed")

    with cloaca.DefaultRunner(url) as runner:
        result = runner.execute("all_gated", cloaca.Context({"input": "x"}))
    statuses = {k: v.status for k, v in result.task_results.items()}
    assert statuses["gated"] == "Skipped"
    assert statuses["after"] == "Completed"
    assert statuses["only_if_gated_ran"] == "Skipped"
    assert result.status == "Completed"
    assert result.final_context.get("after_saw") == 1
    assert result.final_context.get("input") == "x"


def test_a_failure_still_skips_everything_below_it(url: str) -> None:
    with cloaca.WorkflowBuilder("failure_below"):

        @cloaca.task(id="boom", retry_attempts=1)
        def boom(context: Any) -> Any:
            raise ValueError("kaboom")

        @cloaca.task(id="child", dependencies=["boom"])
        def child(context: Any) -> Any:
            return context

        @cloaca.task(id="grandchild", dependencies=["child"])
        def grandchild(context: Any) -> Any:
            return context

    with cloaca.DefaultRunner(url) as runner:
        result = runner.execute("failure_below", cloaca.Context())
    assert result.status == "Failed"
    assert result.task_results["child"].status == "Skipped"
    assert result.task_results["grandchild"].status == "Skipped"


# --------------------------------------------------------------------------- errors


def test_unreachable_database_raises_a_runtime_error_with_cloacas_words() -> None:
    for make in (
        lambda: cloaca.DefaultRunner("postgresql://user:secret@invalid_host:5432/db"),
        lambda: cloaca.DefaultRunner.with_schema("postgresql://invalid_host/test", "TenantA"),
        lambda: cloaca.DefaultRunner.with_schema(
            database_url="postgresql://invalid_host/test", schema="tenant_acme"
        ),
    ):
        with pytest.raises(RuntimeError, match=r"^Failed to set up schema") as caught:
            make()
        assert isinstance(caught.value, RunnerSetupError)
        assert isinstance(caught.value, TaskloomError)
        assert "invalid_host" in str(caught.value)
        assert "secret" not in str(caught.value)  # the password is masked
        assert caught.value.__cause__ is not None  # the driver's error, kept as the cause


def test_sqlite_file_that_cannot_be_set_up_is_a_setup_error(tmp_path: Any) -> None:
    garbage = tmp_path / "not_a_database.db"
    garbage.write_bytes(b"this is not a SQLite file" * 100)
    with pytest.raises(RuntimeError, match=r"^Failed to set up schema") as caught:
        cloaca.DefaultRunner(f"sqlite:///{garbage}")
    assert "not_a_database.db" in str(caught.value)


def test_with_schema_validates_names_as_cloaca_does() -> None:
    assert list(inspect.signature(cloaca.DefaultRunner.with_schema).parameters) == [
        "database_url",
        "schema",
    ]
    with pytest.raises(ValueError, match="Schema name cannot be empty"):
        cloaca.DefaultRunner.with_schema("postgresql://localhost/test", "")
    for bad in ("tenant-name", "tenant name", "tenant.name", "tenant@name", "tenant$name"):
        with pytest.raises(
            ValueError, match="must contain only alphanumeric characters and underscores"
        ):
            cloaca.DefaultRunner.with_schema("postgresql://localhost/test", bad)
    with pytest.raises(ValueError, match="requires PostgreSQL"):
        cloaca.DefaultRunner.with_schema("sqlite:///x.db", "tenant_a")


def test_builder_and_decorator_errors_keep_cloacas_words() -> None:
    builder = cloaca.WorkflowBuilder("add_unknown")
    with pytest.raises(ValueError, match="not found in registry"):
        builder.add_task("no_such_task_anywhere")
    with pytest.raises(ValueError, match="cannot be empty"), cloaca.WorkflowBuilder("empty_wf"):
        pass
    with pytest.raises(ValueError, match="not both"):

        @cloaca.task(id="both_retry", retry=cloaca.RetryPolicy.default(), retry_attempts=2)
        def both_retry(context: Any) -> Any:
            return context


def test_taskloom_errors_derive_from_the_builtins_cloaca_raises() -> None:
    assert issubclass(cloaca.JournalError, RuntimeError)
    assert issubclass(cloaca.RunnerSetupError, RuntimeError)
    assert issubclass(cloaca.WorkflowValidationError, ValueError)
    assert issubclass(cloaca.GraphNodeError, RuntimeError)
    assert issubclass(cloaca.TaskTimeoutError, TimeoutError)
    assert issubclass(cloaca.RunNotFoundError, KeyError)
    with pytest.raises(RuntimeError, match="requires a PostgreSQL connection"):
        cloaca.DatabaseAdmin("sqlite:///x.db")


# --------------------------------------------------------------------------- value objects


def test_retry_policy_exposes_cloacas_attributes_and_repr() -> None:
    policy = (
        cloaca.RetryPolicy.builder()
        .max_attempts(5)
        .initial_delay(2.0)
        .max_delay(60.0)
        .backoff_strategy(cloaca.BackoffStrategy.linear(2.0))
        .retry_condition(cloaca.RetryCondition.transient_only())
        .with_jitter(False)
        .build()
    )
    assert policy.max_attempts == 5
    assert policy.initial_delay == 2.0
    assert policy.max_delay == 60.0
    assert policy.with_jitter is False
    assert policy.backoff_strategy == cloaca.BackoffStrategy.linear(2.0)
    assert policy.retry_condition == cloaca.RetryCondition.transient_only()
    assert repr(policy) == (
        "RetryPolicy(max_attempts=5, initial_delay=2s, max_delay=60s, jitter=False, "
        "backoff_strategy=BackoffStrategy.Linear(multiplier=2.0), "
        "retry_condition=RetryCondition.TransientOnly)"
    )
    default = cloaca.RetryPolicy.default()
    assert (default.max_attempts, default.initial_delay, default.max_delay) == (3, 1.0, 60.0)
    assert default.with_jitter is True
    assert repr(cloaca.BackoffStrategy.fixed()) == "BackoffStrategy.Fixed"
    assert repr(cloaca.BackoffStrategy.exponential(2.0)) == (
        "BackoffStrategy.Exponential(base=2.0, multiplier=1.0)"
    )
    assert repr(cloaca.RetryCondition.all_errors()) == "RetryCondition.AllErrors"
    assert repr(cloaca.RetryCondition.never()) == "RetryCondition.Never"
    assert repr(cloaca.RetryCondition.error_pattern(["timeout"])) == (
        "RetryCondition.ErrorPattern(patterns=['timeout'])"
    )


# --------------------------------------------------------------------------- tenants


def test_tenants_take_cloacas_keywords_and_mixed_case_names(pg_url: str) -> None:
    import psycopg

    suffix = uuid.uuid4().hex[:6]
    schema, user = f"TenantA_{suffix}", f"UserA_{suffix}"
    admin = cloaca.DatabaseAdmin(database_url=pg_url)
    config = cloaca.TenantConfig(schema_name=schema, username=user, password="s3cret")
    assert "s3cret" not in repr(config) and schema in repr(config)
    with cloaca.WorkflowBuilder("tenant_mixed"):

        @cloaca.task(id="step")
        def step(context: Any) -> Any:
            context.set("done", True)
            return context

    creds = admin.create_tenant(config=config)
    try:
        assert "s3cret" not in repr(creds)
        with cloaca.DefaultRunner(creds.connection_string) as runner:
            assert runner.execute("tenant_mixed").final_context.get("done") is True
        with psycopg.connect(pg_url) as conn:
            found = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = 'runs'",
                (schema,),
            ).fetchone()
        assert found == (1,)  # the schema kept its case: not folded to lower case
    finally:
        admin.remove_tenant(schema_name=schema, username=user)


def test_with_schema_accepts_mixed_case_schema_names(pg_url: str) -> None:
    with cloaca.WorkflowBuilder("mixed_schema"):

        @cloaca.task(id="step")
        def step(context: Any) -> Any:
            return context

    with cloaca.DefaultRunner.with_schema(database_url=pg_url, schema="TenantMixed") as one:
        run_id = one.execute("mixed_schema").run_id
    with cloaca.DefaultRunner.with_schema(pg_url, "tenantmixed") as other:
        assert other.journal.get_run(run_id) is None  # a different schema altogether
    with cloaca.DefaultRunner.with_schema(pg_url, "TenantMixed") as again:
        assert again.journal.get_run(run_id) is not None


# --------------------------------------------------------------------------- runner


def test_stop_leaves_runs_in_flight_to_the_next_runner(url: str) -> None:
    started = threading.Event()
    release = threading.Event()
    calls: list[str] = []
    with cloaca.WorkflowBuilder("stop_midway"):

        @cloaca.task(id="first")
        def first(context: Any) -> Any:
            calls.append("first")
            return context

        @cloaca.task(id="slow", dependencies=["first"])
        def slow(context: Any) -> Any:
            calls.append("slow")
            started.set()
            release.wait(10)
            context.set("slow_done", True)
            return context

    runner = cloaca.DefaultRunner(url)
    handle = runner.start("stop_midway", cloaca.Context())
    assert started.wait(10)
    runner.stop()
    runner.stop()  # harmless
    with pytest.raises(RuntimeError, match="stopped"):
        runner.execute("stop_midway")
    release.set()
    with cloaca.DefaultRunner(url) as successor:
        result = successor.result(handle.run_id, timeout=20)
    assert result.status == "Completed"
    assert result.final_context.get("slow_done") is True
    assert calls.count("first") == 1  # a completed task never runs again


def test_workflow_result_times_are_rfc3339_strings_and_repr_is_cloacas(url: str) -> None:
    with cloaca.WorkflowBuilder("times"):

        @cloaca.task(id="step")
        def step(context: Any) -> Any:
            return context

        @cloaca.task(id="fails", retry_attempts=1)
        def fails(context: Any) -> Any:
            raise RuntimeError("broke")

    with cloaca.DefaultRunner(database_url=url) as runner:  # Cloaca's keyword
        result = runner.execute("times")
    assert isinstance(result.start_time, str) and RFC3339.match(result.start_time)
    assert isinstance(result.end_time, str) and RFC3339.match(result.end_time)
    assert datetime.fromisoformat(result.start_time) == result.started_at
    assert datetime.fromisoformat(result.end_time) == result.ended_at
    assert result.duration is not None and result.duration >= 0
    assert result.status == "Failed"
    assert repr(result) == f"WorkflowResult(status=Failed, error={result.error_message})"
    assert "broke" in repr(result)


def test_journal_error_is_still_caught_as_before() -> None:
    assert issubclass(RunnerSetupError, JournalError)


def test_gating_is_the_same_on_postgresql_workers(pg_schema_url: str) -> None:
    """A run executed by a worker (client-mode runner) gates and fans in alike."""
    from taskloom.distributed.worker import Worker

    ran: list[str] = []
    _gated_workflow("gating_workers", False, ran)
    worker = Worker(pg_schema_url, workflows=["gating_workers"], poll_interval=0.1).start()
    try:
        with cloaca.DefaultRunner(pg_schema_url, execute=False) as client:
            result = client.execute("gating_workers", cloaca.Context({}))
    finally:
        worker.stop(timeout=10)
    assert result.status == "Completed"
    assert ran == []
    assert result.task_results["optional"].status == "Skipped"
    assert result.final_context.get("sibling_ran") is True
    assert result.final_context.get("sink_ran") is True


def test_should_retry_takes_cloacas_error_text_and_applies_the_condition() -> None:
    policy = cloaca.RetryPolicy.builder().max_attempts(3).build()
    assert policy.should_retry(1, "some_error") and policy.should_retry(2, "some_error")
    assert not policy.should_retry(3, "some_error")
    transient = (
        cloaca.RetryPolicy.builder().retry_condition(cloaca.RetryCondition.transient_only()).build()
    )
    assert transient.should_retry(1, "ConnectionError: connection reset")
    assert not transient.should_retry(1, "ValueError: bad input")
    patterned = (
        cloaca.RetryPolicy.builder()
        .retry_condition(cloaca.RetryCondition.error_pattern(["rate limit"]))
        .build()
    )
    assert patterned.should_retry(1, "HTTPError: Rate limit exceeded")
    assert not patterned.should_retry(1, "HTTPError: not found")


def test_reactors_need_a_sqlite_or_postgresql_journal_and_an_executing_runner(
    pg_schema_url: str,
) -> None:
    @cloaca.reactor(name="rx_needs_journal", accumulators=["a"])
    class Rx:
        pass

    with cloaca.ComputationGraphBuilder("rx_needs_journal_graph", reactor=Rx, graph={"n": {}}):

        @cloaca.node
        def n() -> Any:
            return {"ok": True}

    with (
        cloaca.DefaultRunner("memory://") as runner,
        pytest.raises(JournalError, match="SQLite or PostgreSQL journal"),
    ):
        runner.push(Rx, "a", 1)
    with (
        cloaca.DefaultRunner(pg_schema_url, execute=False) as client,
        pytest.raises(ValueError, match="execute=False"),
    ):
        client.push(Rx, "a", 1)
    with cloaca.DefaultRunner(pg_schema_url) as runner:
        fired = runner.push(Rx, "a", 1)
        assert fired is not None
        assert fired.result(10).final_context.get("n") == {"ok": True}
