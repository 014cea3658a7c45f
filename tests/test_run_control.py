"""retry_run, cancel_run and their CLI commands, for every style, on SQLite and PostgreSQL.

Side effects go to files beside the test (one line per body execution), so
"a completed task is not run again" is checked outside the engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import taskloom
from taskloom import Context, DefaultRunner, WorkflowBuilder, task
from taskloom.cli import main
from taskloom.journal.urls import open_journal

HERE = Path(__file__).resolve().parent


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _define_dag(side: Path, gate: Path, name: str = "retry_dag") -> None:
    """a -> b -> c; b fails while ``gate`` does not exist."""
    with WorkflowBuilder(name):

        @task(id="a")
        def a(ctx: Context) -> Context:
            with side.open("a") as f:
                f.write("a\n")
            ctx.set("a", 1)
            return ctx

        @task(id="b", dependencies=["a"], retry_attempts=1)
        def b(ctx: Context) -> Context:
            with side.open("a") as f:
                f.write("b\n")
            if not gate.exists():
                raise RuntimeError("the gate is closed")
            ctx.set("b", ctx.get("a") + 1)
            return ctx

        @task(id="c", dependencies=["b"])
        def c(ctx: Context) -> Context:
            with side.open("a") as f:
                f.write("c\n")
            ctx.set("c", ctx.get("b") + 1)
            return ctx


def test_retry_of_a_failed_dag_run_reuses_completed_outputs(db_url: str, tmp_path: Path) -> None:
    side, gate = tmp_path / "side", tmp_path / "gate"
    _define_dag(side, gate)
    with DefaultRunner(db_url) as runner:
        result = runner.execute("retry_dag", {})
        assert result.status == "Failed"
        gate.touch()
        taskloom.retry_run(result.run_id, database_url=db_url)
        again = runner.result(result.run_id, timeout=20)
    assert again.status == "Completed"
    assert again.final_context.get("c") == 3
    assert _lines(side) == ["a", "b", "b", "c"]
    journal = open_journal(db_url)
    try:
        kinds = [e.kind for e in journal.get_events(result.run_id)]
        resets = [e for e in journal.get_events(result.run_id) if e.kind == "task_reset"]
    finally:
        journal.close()
    assert "run_retried" in kinds
    assert {e.task_key for e in resets} == {"b", "c"}
    assert json.loads(resets[0].data_json or "{}")["previous_status"] in ("Failed", "Cancelled")


def test_retry_refuses_unknown_running_and_completed_runs(db_url: str, tmp_path: Path) -> None:
    side, gate = tmp_path / "side", tmp_path / "gate"
    gate.touch()
    _define_dag(side, gate)
    with DefaultRunner(db_url) as runner:
        done = runner.execute("retry_dag", {})
    with pytest.raises(taskloom.RunNotFoundError, match="no run with id 'nope'"):
        taskloom.retry_run("nope", database_url=db_url)
    with pytest.raises(taskloom.RunStateError, match="completed; there is nothing to retry"):
        taskloom.retry_run(done.run_id, database_url=db_url)


def test_retry_from_another_process_is_resumed_by_the_live_runner(
    db_url: str, tmp_path: Path
) -> None:
    """The CLI (another process) reopens the run; this process's runner resumes it."""
    side, gate = tmp_path / "side", tmp_path / "gate"
    _define_dag(side, gate)
    with DefaultRunner(db_url) as runner:
        failed = runner.execute("retry_dag", {})
        gate.touch()
        done = subprocess.run(
            [sys.executable, "-m", "taskloom", "retry", failed.run_id, "--db", db_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert failed.run_id in done.stdout
        again = runner.result(failed.run_id, timeout=20)
    assert again.status == "Completed"
    assert _lines(side) == ["a", "b", "b", "c"]


def test_cli_retry_and_cancel_errors(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    side, gate = tmp_path / "side", tmp_path / "gate"
    gate.touch()
    _define_dag(side, gate)
    with DefaultRunner(db_url) as runner:
        done = runner.execute("retry_dag", {})
    assert main(["retry", "missing", "--db", db_url]) == 2
    assert "no run with id 'missing'" in capsys.readouterr().err
    assert main(["retry", done.run_id, "--db", db_url]) == 2
    assert "completed; there is nothing to retry" in capsys.readouterr().err
    assert main(["cancel", done.run_id, "--db", db_url]) == 1
    assert "already ended (Completed)" in capsys.readouterr().out
    assert main(["cancel", "missing", "--db", db_url]) == 2


def test_cancel_of_a_run_executed_here(db_url: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    with WorkflowBuilder("slow"):

        @task(id="wait")
        def wait(ctx: Context) -> Context:
            deadline = time.monotonic() + 30
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            return ctx

    with DefaultRunner(db_url) as runner:
        handle = runner.start("slow", {})
        assert taskloom.cancel_run(handle.run_id, database_url=db_url) is True
        result = handle.result(timeout=20)
        gate.touch()
    assert result.status == "Cancelled"
    assert taskloom.cancel_run(handle.run_id, database_url=db_url) is False
