"""retry_run, cancel_run and their CLI commands, for every style, on SQLite and PostgreSQL.

Side effects go to files beside the test (one line per body execution), so
"a completed task is not run again" is checked outside the engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
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


def _run_id_from(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    return child.stdout.readline().strip()


def _wait_for_line(path: Path, line: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while line not in _lines(path):
        assert time.monotonic() < deadline, f"{line!r} never appeared in {path}"
        time.sleep(0.02)


def test_cancel_of_a_run_another_live_process_executes(db_url: str, tmp_path: Path) -> None:
    """The owner carries out the cancel at its next tick: its task is abandoned and the
    run ends Cancelled in its own records."""
    side, gate = tmp_path / "side", tmp_path / "gate"
    app = HERE / "deployapps" / "block_app.py"
    child = subprocess.Popen(
        [sys.executable, str(app), db_url, str(side), str(gate)], stdout=subprocess.PIPE, text=True
    )
    try:
        run_id = _run_id_from(child)
        _wait_for_line(side, "hold")
        assert taskloom.cancel_run(run_id, database_url=db_url, wait=20) is True
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "Cancelled"
        gate.touch()  # a sync body cannot be interrupted: let its thread end
        assert child.wait(timeout=30) == 0
    finally:
        gate.touch()
        if child.poll() is None:
            child.kill()
            child.wait()
    journal = open_journal(db_url)
    try:
        run = journal.get_run(run_id)
        tasks = journal.get_tasks(run_id)
    finally:
        journal.close()
    assert run is not None and run.status == "Cancelled"
    assert [t.status for t in tasks] == ["Cancelled"]


def test_cancel_of_an_orphaned_run_is_recorded_directly(db_url: str, tmp_path: Path) -> None:
    """Its process was SIGKILLed and nothing resumes it: the cancel ends it at once."""
    from crashkit import kill_when_reached

    side, gate = tmp_path / "side", tmp_path / "gate"
    app = HERE / "deployapps" / "block_app.py"
    kill_when_reached([str(app), db_url, str(side), str(gate)], side, "hold")
    journal = open_journal(db_url)
    try:
        (run,) = journal.list_runs()
    finally:
        journal.close()
    assert run.status == "Running"
    assert main(["runs", "--orphaned", "--db", db_url]) == 0
    assert taskloom.cancel_run(run.run_id, database_url=db_url) is True
    journal = open_journal(db_url)
    try:
        ended = journal.get_run(run.run_id)
        tasks = journal.get_tasks(run.run_id)
        kinds = [e.kind for e in journal.get_events(run.run_id)]
    finally:
        journal.close()
    assert ended is not None and ended.status == "Cancelled"
    assert ended.error == "cancelled by request"
    assert [t.status for t in tasks] == ["Cancelled"]
    assert kinds[-1] == "run_finished"
    assert taskloom.orphaned_runs(db_url) == []


def test_retry_of_a_failed_flow_run(db_url: str, tmp_path: Path) -> None:
    side, gate = tmp_path / "side", tmp_path / "gate"

    @task
    def first(n: int) -> int:
        with side.open("a") as f:
            f.write("first\n")
        return n + 1

    @task
    def second(n: int) -> int:
        with side.open("a") as f:
            f.write("second\n")
        if not gate.exists():
            raise RuntimeError("the gate is closed")
        return n * 10

    @taskloom.flow
    def retried_flow(n: int) -> int:
        return second(first(n))

    with pytest.raises(taskloom.TaskExecutionError, match="the gate is closed") as info:
        retried_flow.run(1, db=db_url)
    assert isinstance(info.value.original, RuntimeError)
    journal = open_journal(db_url)
    try:
        (run,) = journal.list_runs()
    finally:
        journal.close()
    gate.touch()
    taskloom.retry_run(run.run_id, database_url=db_url)
    assert taskloom.resume(run.run_id, db=db_url, timeout=20) == 20
    assert _lines(side) == ["first", "second", "second"]


def test_retry_of_a_failed_step_run_redrives_its_last_step(db_url: str, tmp_path: Path) -> None:
    from taskloom.steps import Client, Directive, StepContext, Workflow

    side, gate = tmp_path / "side", tmp_path / "gate"
    wf = Workflow(workflow_type="RetriedOrder")

    @task
    async def charge(amount: int) -> str:
        with side.open("a") as f:
            f.write("charge\n")
        return f"txn{amount}"

    @task
    async def ship(txn: str) -> str:
        with side.open("a") as f:
            f.write("ship\n")
        if not gate.exists():
            raise RuntimeError("no courier")
        return f"shipped {txn}"

    @wf.start()
    async def start(ctx: StepContext, amount: int) -> Directive:
        txn = await charge(amount)
        return ctx.next.step(deliver, txn=txn)

    @wf.step()
    async def deliver(ctx: StepContext, txn: str) -> Directive:
        return ctx.next.complete(await ship(txn))

    client = Client(db_url)
    handle = client.start_workflow("RetriedOrder", "order-7", {"amount": 7})
    with pytest.raises(Exception, match="no courier"):
        handle.result(timeout=20)
    gate.touch()
    taskloom.retry_run("order-7", database_url=db_url)
    assert client.get_handle("order-7").result(timeout=20) == "shipped txn7"
    assert _lines(side) == ["charge", "ship", "ship"]


# --------------------------------------------------------------------------- PostgreSQL


def test_retry_and_cancel_of_distributed_runs(pg_schema_url: str, tmp_path: Path) -> None:
    from taskloom import Worker

    side, gate = tmp_path / "side", tmp_path / "gate"
    _define_dag(side, gate, name="retry_dist")
    worker = Worker(pg_schema_url, workflows=["retry_dist"], poll_interval=0.1).start()
    try:
        with DefaultRunner(pg_schema_url, execute=False) as client:
            failed = client.execute("retry_dist", {})
            assert failed.status == "Failed"
            assert _lines(side) == ["a", "b"]
            gate.touch()
            taskloom.retry_run(failed.run_id, database_url=pg_schema_url)
            again = client.result(failed.run_id, timeout=30)
            assert again.status == "Completed"
            assert again.final_context.get("c") == 3
            assert _lines(side) == ["a", "b", "b", "c"]
            with pytest.raises(taskloom.RunStateError, match="nothing to retry"):
                taskloom.retry_run(failed.run_id, database_url=pg_schema_url)
    finally:
        worker.stop(timeout=20)


def test_cancel_of_a_distributed_run_nobody_serves(pg_schema_url: str, tmp_path: Path) -> None:
    side, gate = tmp_path / "side", tmp_path / "gate"
    _define_dag(side, gate, name="unserved")
    with DefaultRunner(pg_schema_url, execute=False) as client:
        handle = client.start("unserved", {})
        assert taskloom.cancel_run(handle.run_id, database_url=pg_schema_url) is True
        assert client.result(handle.run_id, timeout=20).status == "Cancelled"
    assert taskloom.cancel_run(handle.run_id, database_url=pg_schema_url) is False


def test_messages_never_show_the_database_password(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(pg_url)
    user = parts.username or "postgres"
    netloc = f"{user}:s3cret-pw@{parts.hostname}:{parts.port or 5432}"
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    with pytest.raises(taskloom.RunNotFoundError) as caught:
        taskloom.retry_run("no-such-run", database_url=url)
    assert "s3cret-pw" not in str(caught.value)
    assert ":***@" in str(caught.value)
    for command in (["retry"], ["cancel"]):
        assert main([*command, "no-such-run", "--db", url]) == 2
        err = capsys.readouterr().err
        assert "no run with id 'no-such-run'" in err
        assert "s3cret-pw" not in err


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_reopen_is_a_compare_and_set(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two retries (or a retry and a recovery) of one run cannot both win."""
    from taskloom.journal.records import EventRecord, Reopening, RunRecord, TaskRecord

    url = {
        "memory": "memory://",
        "sqlite": f"sqlite:///{tmp_path / 'cas.db'}",
        "postgres": "",
    }[backend]
    if backend == "postgres":
        url = request.getfixturevalue("pg_schema_url")
    journal = open_journal(url)
    try:
        run = RunRecord("r1", "wf", "v1", "dag", "Failed", "{}", 1.0, owner_id="gone")
        journal.create_run(
            run,
            [
                TaskRecord("r1", "a", "Completed", 1, seq=0, output_json="{}"),
                TaskRecord("r1", "b", "Failed", 3, seq=1, error="boom"),
            ],
        )
        rows = [
            TaskRecord("r1", "a", "Completed", 1, seq=0, output_json="{}"),
            TaskRecord("r1", "b", "Pending", 0, seq=1),
        ]
        events = [EventRecord("r1", "run_retried", 2.0)]
        assert journal.reopen_run(Reopening("r1", "Failed", "v1", rows, events)) is True
        assert journal.reopen_run(Reopening("r1", "Failed", "v1", rows, events)) is False
        again = journal.get_run("r1")
        assert again is not None and again.status == "Running" and again.owner_id is None
        assert [(t.task_key, t.status) for t in journal.get_tasks("r1")] == [
            ("a", "Completed"),
            ("b", "Pending"),
        ]
        # An adoption checks the owner too.
        moved = Reopening("r1", "Running", "v2", rows, [], check_owner=True, from_owner="other")
        assert journal.reopen_run(moved) is False
        moved.from_owner = None
        assert journal.reopen_run(moved) is True
        adopted = journal.get_run("r1")
        assert adopted is not None and adopted.workflow_version == "v2"
        journal.request_cancel("r1", "stop", 3.0)
        assert journal.cancel_requests("nobody") == []
    finally:
        journal.close()


def test_retry_of_a_failed_distributed_step_run(pg_schema_url: str, tmp_path: Path) -> None:
    from taskloom import Worker
    from taskloom.steps import Client, Directive, StepContext, Workflow

    side, gate = tmp_path / "side", tmp_path / "gate"
    wf = Workflow(workflow_type="RetriedRemoteOrder")

    @task
    async def pack(n: int) -> int:
        with side.open("a") as f:
            f.write("pack\n")
        return n

    @task
    async def post(n: int) -> str:
        with side.open("a") as f:
            f.write("post\n")
        if not gate.exists():
            raise RuntimeError("the post office is closed")
        return f"posted {n}"

    @wf.start()
    async def start(ctx: StepContext, n: int) -> Directive:
        return ctx.next.complete(await post(await pack(n)))

    worker = Worker(pg_schema_url, workflows=[], flows=[], poll_interval=0.1).start()
    try:
        client = Client(pg_schema_url, execute=False)
        handle = client.start_workflow("RetriedRemoteOrder", "remote-1", {"n": 4})
        with pytest.raises(Exception, match="the post office is closed"):
            handle.result(timeout=30)
        gate.touch()
        taskloom.retry_run("remote-1", database_url=pg_schema_url)
        assert client.get_handle("remote-1").result(timeout=30) == "posted 4"
    finally:
        worker.stop(timeout=20)
    assert _lines(side) == ["pack", "post", "post"]


def test_a_run_that_timed_out_gets_its_whole_time_limit_again(db_url: str) -> None:
    from taskloom import DefaultRunnerConfig

    gate = threading.Event()
    with WorkflowBuilder("timed"):

        @task(id="slow", retry_attempts=1)
        def slow(ctx: Context) -> Context:
            if gate.is_set():
                time.sleep(0.5)  # the retried attempt: longer than what is left of the first
            else:
                gate.wait(10)
            return ctx

    config = DefaultRunnerConfig(workflow_timeout_seconds=2.0)
    try:
        with DefaultRunner(db_url, config) as runner:
            failed = runner.execute("timed", {})
            assert failed.status == "Failed"
            assert "timed out" in (failed.error_message or "")
            gate.set()
            taskloom.retry_run(failed.run_id, database_url=db_url)
            again = runner.result(failed.run_id, timeout=20)
    finally:
        gate.set()
    assert again.status == "Completed", again.error_message
