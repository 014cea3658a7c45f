"""Orphaned runs after a deploy: reported once per version, listed, adopted or refused.

The crash of the old process is played in-process here (a runner that
shuts down while its task is blocked leaves its run behind, as a killed
one does); tests/test_deploys_sigkill.py does it with real processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import taskloom
from taskloom import Context, DefaultRunner, DefaultRunnerConfig, WorkflowBuilder, task
from taskloom.cli import main
from taskloom.journal.urls import open_journal


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _v1(gate: threading.Event, name: str = "deployed") -> None:
    with WorkflowBuilder(name):

        @task(id="a", retry_attempts=1)
        def a(ctx: Context) -> Context:
            ctx.set("a", 1)
            return ctx

        @task(id="b", dependencies=["a"], retry_attempts=1)
        def b(ctx: Context) -> Context:
            gate.wait(30)
            return ctx


def _v2(name: str = "deployed", a_deps: tuple[str, ...] = (), drop_a: bool = False) -> None:
    with WorkflowBuilder(name):
        if a_deps:

            @task(id="z", retry_attempts=1)
            def z(ctx: Context) -> Context:
                return ctx

        if not drop_a:

            @task(id="a", dependencies=list(a_deps), retry_attempts=1)
            def a(ctx: Context) -> Context:
                ctx.set("a", 100)
                return ctx

        @task(id="b", dependencies=[] if drop_a else ["a"], retry_attempts=1)
        def b(ctx: Context) -> Context:
            ctx.set("b", 2)
            return ctx

        @task(id="c", dependencies=["b"], retry_attempts=1)
        def c(ctx: Context) -> Context:
            ctx.set("c", 3)
            return ctx


def _orphan(db_url: str, gate: threading.Event, name: str = "deployed") -> str:
    """A run of v1 left Running by a runner that went away while task b ran."""
    _v1(gate, name)
    runner = DefaultRunner(db_url, DefaultRunnerConfig(shutdown_timeout_seconds=0.05))
    handle = runner.start(name, {})
    journal = open_journal(db_url)
    try:
        deadline = time.monotonic() + 10
        while not any(
            t.task_key == "a" and t.status == "Completed" for t in journal.get_tasks(handle.run_id)
        ):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        journal.close()
    runner.shutdown()
    return handle.run_id


def test_orphans_are_reported_once_per_version(
    db_url: str, gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    first = _orphan(db_url, gate)
    second = _orphan(db_url, gate)
    gate.set()
    assert {o.run.run_id for o in taskloom.orphaned_runs(db_url)} == {first, second}
    _v2()
    caplog.set_level(logging.WARNING, "taskloom")
    with DefaultRunner(db_url) as runner:
        runner.recover()
        runner.recover()
    warnings = [r.getMessage() for r in caplog.records if "orphaned run(s)" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "2 orphaned run(s) of workflow 'deployed' (dag) are at version" in warnings[0]
    assert "taskloom adopt RUN_ID" in warnings[0]
    assert "taskloom runs --orphaned" in warnings[0]


def test_adopt_continues_a_compatible_run(db_url: str, gate: threading.Event) -> None:
    run_id = _orphan(db_url, gate)
    gate.set()
    _v2()
    with DefaultRunner(db_url) as runner:
        taskloom.adopt_run(run_id, database_url=db_url)
        result = runner.result(run_id, timeout=20)
    assert result.status == "Completed"
    # a completed under v1 (a=1): its output is reused, not recomputed (a=100).
    assert result.final_context.to_dict() == {"a": 1, "b": 2, "c": 3}
    journal = open_journal(db_url)
    try:
        events = [e for e in journal.get_events(run_id) if e.kind == "run_adopted"]
    finally:
        journal.close()
    assert len(events) == 1 and '"added": ["c"]' in (events[0].data_json or "")


def test_adopt_refuses_with_the_differences(db_url: str, gate: threading.Event) -> None:
    run_id = _orphan(db_url, gate)
    gate.set()
    _v2(a_deps=("z",))
    with pytest.raises(taskloom.AdoptionRefused) as caught:
        taskloom.adopt_run(run_id, database_url=db_url)
    message = str(caught.value)
    assert f"cannot adopt run {run_id} of 'deployed' from version" in message
    assert "completed task 'a' depended on nothing and now depends on ['z']" in message
    _v2(drop_a=True)
    with pytest.raises(taskloom.AdoptionRefused, match="completed task 'a' no longer exists"):
        taskloom.adopt_run(run_id, database_url=db_url)
    # Refused: nothing changed.
    (orphan,) = taskloom.orphaned_runs(db_url)
    assert orphan.run.run_id == run_id


def test_adopt_refuses_runs_in_the_wrong_state(
    db_url: str, gate: threading.Event, capsys: pytest.CaptureFixture[str]
) -> None:
    gate.set()
    _v1(gate)
    with DefaultRunner(db_url) as runner:
        done = runner.execute("deployed", {})
        with pytest.raises(taskloom.RunStateError, match="is Completed; only a running run"):
            taskloom.adopt_run(done.run_id, database_url=db_url)
    with pytest.raises(taskloom.RunNotFoundError):
        taskloom.adopt_run("nope", database_url=db_url)
    here = Path(__file__)
    assert main(["adopt", done.run_id, "--db", db_url, "--import", str(here)]) == 2
    assert "only a running run can be adopted" in capsys.readouterr().err


def test_the_policy_adopts_compatible_orphans(db_url: str, gate: threading.Event) -> None:
    run_id = _orphan(db_url, gate)
    gate.set()
    _v2()
    with DefaultRunner(db_url, DefaultRunnerConfig(adopt_orphans=True)) as runner:
        result = runner.result(run_id, timeout=20)
    assert result.status == "Completed"
    assert result.final_context.get("c") == 3


def test_the_policy_leaves_incompatible_orphans_with_a_warning(
    db_url: str, gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = _orphan(db_url, gate)
    gate.set()
    _v2(a_deps=("z",))
    caplog.set_level(logging.WARNING, "taskloom")
    with DefaultRunner(db_url, DefaultRunnerConfig(adopt_orphans=True)) as runner:
        runner.recover()
    assert any("depends on ['z']" in r.getMessage() for r in caplog.records)
    assert [o.run.run_id for o in taskloom.orphaned_runs(db_url)] == [run_id]


# --------------------------------------------------------------------------- PostgreSQL


def test_a_worker_warns_about_distributed_runs_at_another_version(
    pg_schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from taskloom import Worker

    gate = threading.Event()
    gate.set()
    _v1(gate, "rolled")
    with DefaultRunner(pg_schema_url, execute=False) as client:
        left = client.start("rolled", {}).run_id
    _v2("rolled")
    caplog.set_level(logging.WARNING, "taskloom")
    worker = Worker(pg_schema_url, workflows=["rolled"], lease=0.3, poll_interval=0.1).start()
    try:
        deadline = time.monotonic() + 20
        while not any("orphaned run(s)" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the worker never warned"
            time.sleep(0.05)
    finally:
        worker.stop(timeout=20)
    (warning,) = [r.getMessage() for r in caplog.records if "orphaned run(s)" in r.getMessage()]
    assert "1 orphaned run(s) of workflow 'rolled' (dag) are at version" in warning
    assert [o.run.run_id for o in taskloom.orphaned_runs(pg_schema_url, lease=0.3)] == [left]
    assert taskloom.cancel_run(left, database_url=pg_schema_url) is True
    assert taskloom.orphaned_runs(pg_schema_url, lease=0.3) == []


def test_a_run_without_a_recorded_graph_is_not_adopted_blindly(db_url: str) -> None:
    """A run started by taskloom 0.1 (no graph recorded) cannot be checked: refused."""
    from taskloom.journal.records import RunRecord, TaskRecord

    journal = open_journal(db_url)
    try:
        journal.create_run(
            RunRecord("legacy", "deployed", "0ld0ld0ld0ld0ld0", "dag", "Running", "{}", 1.0),
            [
                TaskRecord("legacy", "a", "Completed", 1, seq=0, output_json='{"a": 1}'),
                TaskRecord("legacy", "b", "Pending", 0, seq=1),
            ],
        )
    finally:
        journal.close()
    _v2()
    with pytest.raises(taskloom.AdoptionRefused, match="was not recorded"):
        taskloom.adopt_run("legacy", database_url=db_url)
