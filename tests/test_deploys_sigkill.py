"""Deploys under runs in flight, with real processes: start under v1, SIGKILL, restart under v2.

For each style: a compatible change continues the run (completed tasks are
not run again, the interrupted one runs with the new code, new tasks run),
through ``taskloom.adopt_run`` or the ``adopt_orphans`` policy; an
incompatible change is refused with the difference spelled out (steps: the
replay fails with ``NonDeterminismError`` naming the call). Side effects are
lines appended (with fsync) to a file by every task body.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crashkit import kill_when_reached
from taskloom.cli import main

APP = Path(__file__).resolve().parent / "deployapps" / "deploy_app.py"


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _run(style: str, version: str, db: str, side: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(APP), style, version, db, str(side), *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, (lines[-1] if lines else done.stderr)


def _start_and_kill(style: str, db: str, side: Path, marker: str) -> str:
    """Start a v1 run, SIGKILL its process in the middle; the run's id."""
    if style == "steps":
        _kill_once_recorded(db, side, marker)
    else:
        kill_when_reached([str(APP), style, "v1", db, str(side), "start"], side, marker)
    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    try:
        (run_id,) = conn.execute("SELECT run_id FROM runs WHERE status = 'Running'").fetchone()
    finally:
        conn.close()
    return str(run_id)


def _kill_once_recorded(db: str, side: Path, marker: str) -> None:
    """Steps: kill once the blocked operation's row is durable (the replay's evidence)."""
    import os
    import signal

    child = subprocess.Popen([sys.executable, str(APP), "steps", "v1", db, str(side), "start"])
    path = db.removeprefix("sqlite:///")
    try:
        deadline = time.monotonic() + 30
        while True:
            assert child.poll() is None, "the v1 process exited before it was killed"
            assert time.monotonic() < deadline, "the v1 run never recorded its operation"
            if marker in _lines(side) and Path(path).exists():
                conn = sqlite3.connect(path)
                try:
                    row = conn.execute(
                        "SELECT 1 FROM task_runs WHERE task_key LIKE ?", (f"%:{marker}",)
                    ).fetchone()
                except sqlite3.Error:
                    row = None
                finally:
                    conn.close()
                if row:
                    break
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()


@pytest.mark.parametrize("mode", ["adopt", "policy"])
def test_dag_compatible_deploy_continues_the_run(mode: str, db_url: str, tmp_path: Path) -> None:
    side = tmp_path / "side"
    run_id = _start_and_kill("dag", db_url, side, "b")
    code, last = _run("dag", "v2", db_url, side, mode, run_id)
    assert code == 0, last
    assert last.startswith("Completed "), last
    assert '"d": 4' in last
    assert _lines(side) == ["a", "b", "b2", "c", "d"]


def test_dag_incompatible_deploy_is_refused_and_reported(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    side = tmp_path / "side"
    run_id = _start_and_kill("dag", db_url, side, "b")
    code, last = _run("dag", "v2bad", db_url, side, "adopt", run_id)
    assert code == 3, last
    assert "completed task 'a' depended on nothing and now depends on ['z']" in last
    assert _lines(side) == ["a", "b"]
    assert main(["runs", "--orphaned", "--db", db_url]) == 0
    assert run_id in capsys.readouterr().out


@pytest.mark.parametrize("mode", ["adopt", "policy"])
def test_flow_compatible_deploy_continues_the_run(mode: str, db_url: str, tmp_path: Path) -> None:
    side = tmp_path / "side"
    run_id = _start_and_kill("flow", db_url, side, "fb")
    code, last = _run("flow", "v2", db_url, side, mode, run_id)
    assert code == 0, last
    assert last == "Completed 42", last  # fd(fc(fb(fa(1)))) = ((2 * 10) + 1) * 2
    assert _lines(side) == ["fa", "fb", "fb2", "fc", "fd"]


def test_flow_incompatible_deploy_is_refused(db_url: str, tmp_path: Path) -> None:
    side = tmp_path / "side"
    run_id = _start_and_kill("flow", db_url, side, "fb")
    code, last = _run("flow", "v2bad", db_url, side, "adopt", run_id)
    assert code == 3, last
    assert "completed task 'fa#0' depended on nothing and now depends on ['fz#0']" in last


def test_steps_patched_deploy_replays_the_old_branch(db_url: str, tmp_path: Path) -> None:
    side = tmp_path / "side"
    run_id = _start_and_kill("steps", db_url, side, "ship")
    code, last = _run("steps", "v2", db_url, side, "resume", run_id)
    assert code == 0, last
    assert last == 'Completed "shipped txn5"', last
    # The run in flight kept the old branch (no audit); its charge was not run again.
    assert _lines(side) == ["charge", "ship", "ship2"]
    code, last = _run("steps", "v2", db_url, side, "fresh")
    assert last == 'Completed "shipped txn6"', last
    # A new run takes the new branch.
    assert _lines(side)[3:] == ["charge", "audit", "ship2"]
    conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        decisions = dict(
            conn.execute(
                "SELECT run_id, output_json FROM task_runs WHERE task_key = ?",
                ("patch:audit-before-shipping",),
            ).fetchall()
        )
    finally:
        conn.close()
    assert decisions == {run_id: "false", "order-2": "true"}


def test_steps_unguarded_deploy_fails_naming_the_call(db_url: str, tmp_path: Path) -> None:
    side = tmp_path / "side"
    run_id = _start_and_kill("steps", db_url, side, "ship")
    code, last = _run("steps", "v2bad", db_url, side, "resume", run_id)
    assert code == 0, last
    assert last.startswith("Failed: "), last
    assert "call #1 was 'ship' when recorded but is now 'audit'" in last
    assert "ctx.patched" in last
    assert _lines(side) == ["charge", "ship"]


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.parametrize(
    ("style", "mode", "marker", "outcome", "lines"),
    [
        ("dag", "dist_adopt", "b", '"d": 4', ["a", "b", "b2", "c", "d"]),
        ("dag", "dist_policy", "b", '"d": 4', ["a", "b", "b2", "c", "d"]),
        ("flow", "dist_adopt", "fb", "Completed 42", ["fa", "fb", "fb2", "fc", "fd"]),
    ],
)
def test_distributed_deploy_continues_the_run(
    style: str,
    mode: str,
    marker: str,
    outcome: str,
    lines: list[str],
    pg_schema_url: str,
    tmp_path: Path,
) -> None:
    """A worker of v1 is killed while it runs a task; workers of v2 adopt the run."""
    side = tmp_path / "side"
    argv = [str(APP), style, "v1", pg_schema_url, str(side), "dist_start"]
    child = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    try:
        deadline = time.monotonic() + 30
        while marker not in _lines(side):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        child.kill()
        child.wait()
    code, last = _run(style, "v2", pg_schema_url, side, mode, run_id)
    assert code == 0, last
    assert last.startswith("Completed "), last
    assert outcome in last
    assert _lines(side) == lines


def test_cli_adopt_then_a_runner_with_that_code_finishes_the_run(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from taskloom import DefaultRunner
    from taskloom.cli.targets import import_workflows

    side = tmp_path / "side"
    run_id = _start_and_kill("dag", db_url, side, "b")
    module = APP.parent / "dag_v2_module.py"
    env = {**os.environ, "DEPLOY_SIDE": str(side)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskloom",
            "adopt",
            run_id,
            "--db",
            db_url,
            "--import",
            str(module),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"run {run_id} adopted onto the current version" in done.stdout
    monkeypatch.setenv("DEPLOY_SIDE", str(side))
    import_workflows(str(module))
    import deploy_app  # the module the import above loaded

    deploy_app.SIDE = str(side)
    with DefaultRunner(db_url) as runner:
        result = runner.result(run_id, timeout=30)
    assert result.status == "Completed"
    assert _lines(side) == ["a", "b", "b2", "c", "d"]
