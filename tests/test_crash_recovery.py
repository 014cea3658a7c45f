"""Crash and recovery: real processes, real SIGKILLs, one SQLite journal.

The helper programs in ``tests/crashapps`` start runs in a child process;
the tests kill the child with SIGKILL and check that a new runner -- in this
process, which loads the same app file so the workflow version is identical,
or in another child -- finishes the run with the durability rules of the
house: a completed task never runs again, the task in flight runs again,
a waiting retry keeps its recorded due time, a live owner's run is never
taken, and a run of another workflow version is left alone.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import pytest

from taskloom import Context, DefaultRunner, DefaultRunnerConfig, WorkflowBuilder, task
from taskloom.core.liveness import HOSTNAME
from taskloom.core.registry import lookup_workflow
from taskloom.journal.base import Journal
from taskloom.journal.records import RunnerRecord, RunRecord, RunStatus, TaskRecord, TaskStatus
from taskloom.journal.urls import open_journal

CRASHAPPS = Path(__file__).parent / "crashapps"
CHAIN = ("t1", "t2", "t3", "t4", "t5", "t6")
CHAIN_SLEEP = 0.15

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="uses SIGKILL and /proc"
)


# --------------------------------------------------------------------------- helpers


def load_app(name: str) -> ModuleType:
    """Execute ``crashapps/NAME.py`` afresh under the module name ``NAME``.

    A fresh execution registers the app's workflow again (the registry is
    reset after every test), and the module name matches the one the child
    programs use, so the workflow version equals the one the child recorded.
    """
    spec = importlib.util.spec_from_file_location(name, CRASHAPPS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    except FileNotFoundError:
        return []


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


class Child:
    """A helper program running in its own process."""

    def __init__(self, app: str, args: list[str], log_dir: Path, number: int) -> None:
        self.app = app
        self.stderr_path = log_dir / f"{app}-{number}.stderr"
        self._stderr: TextIO = open(self.stderr_path, "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(CRASHAPPS / f"{app}.py"), *args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def read_line(self, timeout: float = 15.0) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"{self.app} printed nothing within {timeout} s; stderr:\n{self.stderr()}"
            ) from None
        if line is None:
            raise AssertionError(
                f"{self.app} exited ({self.proc.wait()}) without output; stderr:\n{self.stderr()}"
            )
        return line

    def kill(self, reap: bool = True) -> None:
        os.kill(self.pid, signal.SIGKILL)
        if reap:
            self.proc.wait()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(encoding="utf-8")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start helper programs; any still running at the end of the test is killed."""
    children: list[Child] = []

    def start(app: str, *args: object) -> Child:
        child = Child(app, [str(a) for a in args], tmp_path, len(children))
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()


@pytest.fixture
def journal(db_url: str) -> Iterator[Journal]:
    """A second connection to the test's journal, for inspection."""
    opened = open_journal(db_url)
    yield opened
    opened.close()


def event_kinds(journal: Journal, run_id: str) -> list[str]:
    return [e.kind for e in journal.get_events(run_id)]


def resumed_at(journal: Journal, run_id: str) -> float | None:
    for event in journal.get_events(run_id):
        if event.kind == "run_resumed":
            return event.at
    return None


def start_chain(
    spawn: Callable[..., Child], db_url: str, side: Path, sleep: float
) -> tuple[Child, str]:
    child = spawn("chain_app", db_url, side, "start", sleep)
    return child, child.read_line()


def check_chain_side_effects(
    lines: list[str], completed_before: set[str], in_flight: set[str]
) -> None:
    """Completed tasks ran once, the interrupted one at most twice, every task ran."""
    counts = Counter(lines)
    assert set(counts) == set(CHAIN), f"side effects {lines}"
    for task_id in CHAIN:
        if task_id in in_flight:
            assert 1 <= counts[task_id] <= 2, f"{task_id} ran {counts[task_id]} times: {lines}"
        else:
            assert counts[task_id] == 1, f"{task_id} ran {counts[task_id]} times: {lines}"
    assert list(dict.fromkeys(lines)) == list(CHAIN), f"tasks ran out of order: {lines}"


def check_chain_output(output: dict[str, Any], side: Path) -> None:
    assert output["trail"] == list(CHAIN)
    for position, task_id in enumerate(CHAIN, start=1):
        assert output[task_id] == position
    assert output["side_file"] == str(side)


def kill_chain_after(
    spawn: Callable[..., Child],
    db_url: str,
    side: Path,
    journal: Journal,
    started: int,
    sleep: float = CHAIN_SLEEP,
) -> tuple[str, set[str], set[str]]:
    """Start a chain run in a child, SIGKILL it once ``started`` tasks began.

    Returns the run id, the tasks recorded Completed at the moment of the
    kill, and the task in flight: its body had begun (its side effect is in
    the file) but its completion was not recorded. Its start may or may not
    have been recorded yet -- a task's start rides along with the next commit.
    """
    child, run_id = start_chain(spawn, db_url, side, sleep)
    wait_for(lambda: len(read_lines(side)) >= started, 15, f"{started} tasks to start")
    child.kill()
    run = journal.get_run(run_id)
    assert run is not None and run.status == RunStatus.RUNNING
    tasks = {t.task_key: t for t in journal.get_tasks(run_id)}
    assert list(tasks) == list(CHAIN)
    completed = {k for k, t in tasks.items() if t.status == TaskStatus.COMPLETED}
    in_flight = set(read_lines(side)) - completed
    assert len(completed) >= started - 1, f"journal before recovery: {tasks}"
    assert len(in_flight) <= 1, f"a chain has at most one task in flight: {tasks}"
    for key, record in tasks.items():
        if key not in completed | in_flight:
            assert record.status == TaskStatus.PENDING, f"{key} was never started: {record}"
    return run_id, completed, in_flight


# --------------------------------------------------------------------------- 1. crash


@pytest.mark.timeout(60)
def test_killed_run_is_finished_by_a_new_runner(
    db_url: str, tmp_path: Path, spawn: Callable[..., Child], journal: Journal
) -> None:
    side = tmp_path / "side.txt"
    run_id, completed, in_flight = kill_chain_after(spawn, db_url, side, journal, started=3)
    before = {t.task_key: t for t in journal.get_tasks(run_id)}
    recorded_running = {k for k, t in before.items() if t.status == TaskStatus.RUNNING}
    assert recorded_running <= in_flight
    dead_owner = journal.get_run(run_id).owner_id  # type: ignore[union-attr]

    app = load_app("chain_app")
    recorded_version = journal.get_run(run_id).workflow_version  # type: ignore[union-attr]
    assert app.WORKFLOW_DEFINITION.version == recorded_version, (
        "the test process must define the very workflow version the child recorded"
    )
    with DefaultRunner(db_url) as runner:
        result = runner.result(run_id, timeout=15)
        new_owner = runner._engine.runner_id

    assert result.status == "Completed", result.error_message
    check_chain_output(result.final_context.to_dict(), side)
    check_chain_side_effects(read_lines(side), completed, in_flight)

    run = journal.get_run(run_id)
    assert run is not None
    assert run.status == RunStatus.COMPLETED
    assert run.owner_id == new_owner != dead_owner
    check_chain_output(json.loads(run.final_json or "{}"), side)

    after = {t.task_key: t for t in journal.get_tasks(run_id)}
    assert all(t.status == TaskStatus.COMPLETED for t in after.values()), after
    for key in completed:
        # The recorded outcome is reused, not recomputed.
        assert after[key].output_json == before[key].output_json
        assert after[key].started_at == before[key].started_at
        assert after[key].ended_at == before[key].ended_at
        assert after[key].attempt == 1
    for key in in_flight:
        # The interrupted attempt does not count against the task.
        assert after[key].attempt == 1

    kinds = event_kinds(journal, run_id)
    assert kinds.count("run_resumed") == 1
    assert kinds.count("attempt_interrupted") == len(recorded_running)
    assert kinds.count("run_finished") == 1
    started_events = Counter(
        e.task_key for e in journal.get_events(run_id) if e.kind == "task_started"
    )
    for key in CHAIN:
        assert started_events[key] == (2 if key in recorded_running else 1), started_events


# --------------------------------------------------------------------------- 2. how fast


@pytest.mark.timeout(60)
def test_new_runner_resumes_at_once(
    db_url: str, tmp_path: Path, spawn: Callable[..., Child], journal: Journal
) -> None:
    side = tmp_path / "side.txt"
    run_id, completed, _ = kill_chain_after(spawn, db_url, side, journal, started=2)
    load_app("chain_app")

    t0 = time.time()
    with DefaultRunner(db_url) as runner:
        result = runner.result(run_id, timeout=15)
    finished = time.time()

    assert result.status == "Completed", result.error_message
    resumed = resumed_at(journal, run_id)
    assert resumed is not None
    assert resumed - t0 < 1.0, f"resumed {resumed - t0:.2f} s after the runner was created"
    remaining = len(CHAIN) - len(completed)
    budget = remaining * CHAIN_SLEEP + 1.5
    assert finished - t0 < budget, (
        f"{remaining} tasks of {CHAIN_SLEEP} s took {finished - t0:.2f} s (budget {budget:.2f})"
    )


@pytest.mark.timeout(60)
def test_running_runner_picks_up_a_run_within_its_recovery_interval(
    db_url: str, tmp_path: Path, spawn: Callable[..., Child], journal: Journal
) -> None:
    side = tmp_path / "side.txt"
    load_app("chain_app")
    child, run_id = start_chain(spawn, db_url, side, 0.2)
    config = DefaultRunnerConfig(recovery_interval_seconds=1.0)
    with DefaultRunner(db_url, config) as runner:
        wait_for(lambda: len(read_lines(side)) >= 2, 15, "two tasks to start")
        assert run_id not in runner._engine.active, "the live child's run was taken"
        completed = {
            t.task_key for t in journal.get_tasks(run_id) if t.status == TaskStatus.COMPLETED
        }
        killed_at = time.time()
        child.kill()
        resumed = wait_for(lambda: resumed_at(journal, run_id), 5, "the run to be resumed")
        result = runner.result(run_id, timeout=15)

    delay = resumed - killed_at
    assert delay < 1.0 + 0.5, f"resumed {delay:.2f} s after the owner died (interval 1 s)"
    assert result.status == "Completed", result.error_message
    counts = Counter(read_lines(side))
    assert set(counts) == set(CHAIN)
    for key in completed:
        assert counts[key] == 1


@pytest.mark.timeout(60)
def test_zombie_owner_counts_as_dead(
    db_url: str, tmp_path: Path, spawn: Callable[..., Child], journal: Journal
) -> None:
    side = tmp_path / "side.txt"
    child, run_id = start_chain(spawn, db_url, side, 0.1)
    wait_for(lambda: len(read_lines(side)) >= 2, 15, "two tasks to start")
    child.kill(reap=False)
    stat = Path(f"/proc/{child.pid}/stat")
    wait_for(lambda: stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z", 5, "a zombie")

    load_app("chain_app")
    try:
        with DefaultRunner(db_url) as runner:
            result = runner.result(run_id, timeout=15)
        assert result.status == "Completed", result.error_message
    finally:
        child.proc.wait()
    assert set(read_lines(side)) == set(CHAIN)


# --------------------------------------------------------------------------- 3. retry timer


@pytest.mark.timeout(60)
def test_retry_wait_survives_a_crash(
    db_url: str, tmp_path: Path, spawn: Callable[..., Child], journal: Journal
) -> None:
    side = tmp_path / "side.txt"
    child = spawn("retry_app", db_url, side, "start")
    run_id = child.read_line()

    def retrying() -> Any:
        tasks = {t.task_key: t for t in journal.get_tasks(run_id)}
        flaky = tasks.get("flaky")
        return flaky if flaky is not None and flaky.status == TaskStatus.RETRYING else None

    waiting = wait_for(retrying, 15, "flaky to wait for its retry")
    child.kill()
    assert waiting.attempt == 1
    assert waiting.next_retry_at is not None
    first = read_lines(side)
    assert len(first) == 1 and first[0].startswith("flaky 1 ")
    first_at = float(first[0].split()[2])
    assert waiting.next_retry_at - first_at >= 1.5, (
        "the durable due time is 1.5 s after the failure"
    )

    # Restart well inside the wait: the retry must come at the recorded due
    # time, neither at once nor a whole new delay after the restart.
    time.sleep(max(0.0, first_at + 0.6 - time.time()))
    load_app("retry_app")
    restarted_at = time.time()
    assert restarted_at < waiting.next_retry_at - 0.5, "the restart must fall inside the wait"
    with DefaultRunner(db_url) as runner:
        result = runner.result(run_id, timeout=15)

    assert result.status == "Completed", result.error_message
    lines = read_lines(side)
    flaky_lines = [line.split() for line in lines if line.startswith("flaky ")]
    assert [int(parts[1]) for parts in flaky_lines] == [1, 2], lines
    second_at = float(flaky_lines[1][2])
    assert second_at - first_at >= 1.5 - 0.02, (
        f"retried {second_at - first_at:.3f} s after the first attempt, before the 1.5 s delay"
    )
    assert second_at >= waiting.next_retry_at - 0.02
    assert second_at < waiting.next_retry_at + 0.3, (
        f"retried {second_at - waiting.next_retry_at:.3f} s after the recorded due time"
    )
    assert second_at < restarted_at + 1.5 - 0.2, "the delay started over after the restart"
    assert sum(1 for line in lines if line.startswith("after ")) == 1

    record = {t.task_key: t for t in journal.get_tasks(run_id)}["flaky"]
    assert record.status == TaskStatus.COMPLETED
    assert record.attempt == 2
    assert result.task_results["flaky"].attempts == 2
    attempts = [
        json.loads(e.data_json or "{}")["attempt"]
        for e in journal.get_events(run_id)
        if e.kind == "task_started" and e.task_key == "flaky"
    ]
    assert attempts == [1, 2]
    assert result.final_context["flaky_attempt"] == 2


# --------------------------------------------------------------------------- 4. many processes


@pytest.mark.timeout(60)
def test_processes_share_one_sqlite_file(
    db_url: str, tmp_path: Path, spawn: Callable[..., Child], journal: Journal
) -> None:
    processes, runs_each = 3, 20
    start_at = time.time() + 1.5
    children = [
        spawn("fanout_app", db_url, tmp_path / "unused", runs_each, start_at)
        for _ in range(processes)
    ]
    for child in children:
        code = child.wait(timeout=50)
        errors = child.stderr()
        assert code == 0, f"{child.app} pid {child.pid} exited {code}:\n{errors}"
        assert "locked" not in errors.lower(), errors
        assert child.read_line() == f"completed {runs_each} of {runs_each}"

    runs = journal.list_runs(limit=1000)
    assert len(runs) == processes * runs_each
    assert all(r.status == RunStatus.COMPLETED for r in runs), Counter(r.status for r in runs)
    assert len(journal.list_runs(limit=1000, status=RunStatus.COMPLETED)) == processes * runs_each
    assert journal.unfinished_runs() == []
    origins = Counter(json.loads(r.input_json)["origin"] for r in runs)
    assert sorted(origins) == sorted(child.pid for child in children)
    assert set(origins.values()) == {runs_each}
    assert len({r.owner_id for r in runs}) == processes
    # The processes really worked side by side: their busy spans overlap.
    spans = {}
    for origin in origins:
        mine = [r for r in runs if json.loads(r.input_json)["origin"] == origin]
        spans[origin] = (min(r.created_at for r in mine), max(r.ended_at or 0.0 for r in mine))
    latest_start = max(start for start, _ in spans.values())
    earliest_end = min(end for _, end in spans.values())
    assert latest_start < earliest_end, f"the processes ran one after another: {spans}"
    for run in runs:
        # Each run was executed once, by the process that started it.
        assert "run_resumed" not in event_kinds(journal, run.run_id)
        assert run.owner_id is not None
        assert run.owner_id.split(":")[1] == str(json.loads(run.input_json)["origin"])
        tasks = journal.get_tasks(run.run_id)
        assert len(tasks) == 6
        assert all(t.status == TaskStatus.COMPLETED and t.attempt == 1 for t in tasks)
    assert journal.list_runners() == [], "every process unregistered when it shut down"


# --------------------------------------------------------------------------- 5. live owner


@pytest.mark.timeout(60)
def test_live_owner_keeps_its_run(
    db_url: str, tmp_path: Path, spawn: Callable[..., Child], journal: Journal
) -> None:
    side = tmp_path / "side.txt"
    load_app("chain_app")
    child, run_id = start_chain(spawn, db_url, side, 0.35)
    owner = journal.get_run(run_id).owner_id  # type: ignore[union-attr]
    assert owner is not None and owner.split(":")[1] == str(child.pid)

    config = DefaultRunnerConfig(recovery_interval_seconds=0.2)
    with DefaultRunner(db_url, config) as runner:
        time.sleep(1.5)
        lines = read_lines(side)
        assert lines and len(lines) == len(set(lines)), f"a task ran twice: {lines}"
        assert journal.get_run(run_id).owner_id == owner  # type: ignore[union-attr]
        assert "run_resumed" not in event_kinds(journal, run_id)
        assert run_id not in runner._engine.active

        # Waiting on a run another process executes reads it from the journal.
        result = runner.result(run_id, timeout=20)
        assert result.status == "Completed", result.error_message
        check_chain_output(result.final_context.to_dict(), side)
        code = child.wait(timeout=20)
        assert code == 0, child.stderr()
        assert runner._engine.active == {}

    assert read_lines(side) == list(CHAIN)
    run = journal.get_run(run_id)
    assert run is not None
    assert run.status == RunStatus.COMPLETED
    assert run.owner_id == owner
    assert "run_resumed" not in event_kinds(journal, run_id)


@pytest.mark.timeout(60)
def test_run_started_during_a_recovery_scan_is_not_taken(
    db_url: str, tmp_path: Path, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose owner registered after the scanner listed the runners is not orphaned.

    The scanner reads the runner list, then the unfinished runs. A runner that
    registers and starts a run between those two reads is alive, yet its run's
    owner is missing from the scanner's list.
    """
    app = load_app("chain_app")
    side = tmp_path / "side.txt"
    config = DefaultRunnerConfig(recovery_interval_seconds=3600.0)
    scanner = DefaultRunner(db_url, config)
    started: dict[str, Any] = {}
    list_runners = scanner.journal.list_runners

    def list_runners_then_a_new_runner_starts_a_run() -> Any:
        snapshot = list_runners()
        if not started:
            other = DefaultRunner(db_url, config)
            started["runner"] = other
            started["handle"] = other.start(app.WORKFLOW, {"side_file": str(side), "sleep": 0.05})
        return snapshot

    monkeypatch.setattr(
        scanner.journal, "list_runners", list_runners_then_a_new_runner_starts_a_run
    )
    try:
        resumed = scanner.recover()
        run_id = started["handle"].run_id
        owner = started["runner"]._engine.runner_id
        assert resumed == [], "the scanner took the run of a live runner"
        assert journal.get_run(run_id).owner_id == owner  # type: ignore[union-attr]
        result = started["handle"].result(timeout=15)
        assert result.status == "Completed"
    finally:
        scanner.shutdown()
        if "runner" in started:
            started["runner"].shutdown()
    assert Counter(read_lines(side)) == Counter(CHAIN), "a task body ran twice"


# --------------------------------------------------------------------------- owner liveness


def plant_run(db_url: str, app: ModuleType, side: Path, owner: RunnerRecord) -> str:
    """Record an unfinished chain run owned by ``owner``, as if it had crashed at once."""
    workflow = app.WORKFLOW_DEFINITION
    run = RunRecord(
        run_id=uuid.uuid4().hex,
        workflow_name=workflow.name,
        workflow_version=workflow.version,
        kind="dag",
        status=RunStatus.RUNNING,
        input_json=json.dumps({"side_file": str(side), "sleep": 0.01}),
        created_at=owner.started_at + 1.0,
        owner_id=owner.runner_id,
    )
    tasks = [
        TaskRecord(run.run_id, key, TaskStatus.PENDING, seq=i)
        for i, key in enumerate(workflow.topological_sort())
    ]
    planted = open_journal(db_url)
    try:
        planted.register_runner(owner)
        planted.create_run(run, tasks)
    finally:
        planted.close()
    return run.run_id


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("heartbeat_age", "resumed"), [(2.0, False), (120.0, True)])
def test_owner_on_another_host_is_judged_by_its_heartbeat(
    db_url: str, tmp_path: Path, journal: Journal, heartbeat_age: float, resumed: bool
) -> None:
    app = load_app("chain_app")
    side = tmp_path / "side.txt"
    now = time.time()
    owner = RunnerRecord("elsewhere:4242:abc", "elsewhere", 4242, now - 600, now - heartbeat_age)
    run_id = plant_run(db_url, app, side, owner)
    config = DefaultRunnerConfig(owner_lease_seconds=30.0)
    with DefaultRunner(db_url, config) as runner:
        if resumed:
            assert runner.result(run_id, timeout=15).status == "Completed"
        else:
            time.sleep(0.3)
            assert runner.recover() == []
            assert run_id not in runner._engine.active
    run = journal.get_run(run_id)
    assert run is not None
    if resumed:
        assert run.status == RunStatus.COMPLETED
        assert read_lines(side) == list(CHAIN)
    else:
        assert run.status == RunStatus.RUNNING
        assert run.owner_id == owner.runner_id
        assert read_lines(side) == []


@pytest.mark.timeout(60)
def test_owner_whose_pid_was_reused_counts_as_dead(
    db_url: str, tmp_path: Path, journal: Journal
) -> None:
    """After a restart (a container always runs its app as the same pid) a dead
    runner's pid may belong to a live process again. That process started after
    the runner did, so it cannot be the runner, and the run must be resumed.
    """
    app = load_app("chain_app")
    side = tmp_path / "side.txt"
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        long_ago = time.time() - 3600
        owner = RunnerRecord(
            f"{HOSTNAME}:{stranger.pid}:gone", HOSTNAME, stranger.pid, long_ago, long_ago
        )
        run_id = plant_run(db_url, app, side, owner)
        with DefaultRunner(db_url) as runner:
            try:
                status = runner.result(run_id, timeout=30).status
            except TimeoutError:
                status = None
            assert status == "Completed", (
                f"the run of runner {owner.runner_id} (started an hour ago, silent since) "
                f"is left alone because pid {stranger.pid} now belongs to a younger process"
            )
        assert "run_resumed" in event_kinds(journal, run_id)
    finally:
        stranger.kill()
        stranger.wait()


# --------------------------------------------------------------------------- 6. versions


@pytest.mark.timeout(60)
def test_run_of_another_version_is_left_for_a_matching_process(
    db_url: str, tmp_path: Path, spawn: Callable[..., Child], journal: Journal
) -> None:
    side = tmp_path / "side.txt"
    run_id, completed, in_flight = kill_chain_after(
        spawn, db_url, side, journal, started=2, sleep=0.2
    )
    dead_owner = journal.get_run(run_id).owner_id  # type: ignore[union-attr]
    lines_at_kill = read_lines(side)

    with WorkflowBuilder("crash_chain"):  # the same name, changed tasks

        @task(id="t1", retry_attempts=1)
        def t1(ctx: Context) -> Context:
            ctx.set("changed", True)
            return ctx

    changed = lookup_workflow("crash_chain")
    assert changed is not None
    assert changed.version != journal.get_run(run_id).workflow_version  # type: ignore[union-attr]

    config = DefaultRunnerConfig(recovery_interval_seconds=0.2)
    with DefaultRunner(db_url, config) as runner:
        assert runner.recover() == []
        time.sleep(1.0)  # several more recovery scans
        run = journal.get_run(run_id)
        assert run is not None
        assert run.status == RunStatus.RUNNING
        assert run.owner_id == dead_owner
        assert "run_resumed" not in event_kinds(journal, run_id)
        assert read_lines(side) == lines_at_kill

        recoverer = spawn("chain_app", db_url, side, "recover", run_id)
        code = recoverer.wait(timeout=20)
        assert code == 0, recoverer.stderr()
        assert recoverer.read_line() == "Completed"
        assert run_id not in runner._engine.active

    run = journal.get_run(run_id)
    assert run is not None and run.status == RunStatus.COMPLETED
    assert run.owner_id not in (dead_owner, None)
    assert run.owner_id.split(":")[1] == str(recoverer.pid)
    check_chain_output(json.loads(run.final_json or "{}"), side)
    check_chain_side_effects(read_lines(side), completed, in_flight)


def _workflow_from_source(body: str) -> str:
    """The version of a one-task workflow whose task body is ``body``.

    Each call defines the task in a module of the same name with the same
    qualified name, as a redeployed program would.
    """
    source = (
        "from taskloom import Context, WorkflowBuilder, task\n"
        "def charge(ctx): return ctx\n"
        "def refund(ctx): return ctx\n"
        "with WorkflowBuilder('billing'):\n"
        "    @task(id='bill', retry_attempts=1)\n"
        "    def bill(ctx: Context) -> Context:\n"
        f"        {body}\n"
        "        return ctx\n"
    )
    exec(compile(source, "billing_app.py", "exec"), {"__name__": "billing_app"})
    workflow = lookup_workflow("billing")
    assert workflow is not None
    return workflow.version


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("ctx.set('amount', 100)", "ctx.set('amount', 1000)"),
        ("ctx.set('amount', 100)", "ctx.set('refund', 100)"),
        ("charge(ctx)", "refund(ctx)"),
    ],
    ids=["constant", "key", "called-function"],
)
def test_changed_task_code_changes_the_version(old: str, new: str) -> None:
    """A task whose code changed must not resume runs recorded by the old code."""
    assert _workflow_from_source(old) == _workflow_from_source(old)
    assert _workflow_from_source(old) != _workflow_from_source(new)


# --------------------------------------------------------------------------- clean shutdown


@pytest.mark.timeout(60)
def test_clean_shutdown_hands_unfinished_runs_to_the_next_runner(
    db_url: str, tmp_path: Path, journal: Journal
) -> None:
    app = load_app("chain_app")
    side = tmp_path / "side.txt"
    first = DefaultRunner(db_url, DefaultRunnerConfig(shutdown_timeout_seconds=0.05))
    handle = first.start(app.WORKFLOW, {"side_file": str(side), "sleep": 0.1})
    wait_for(lambda: len(read_lines(side)) >= 2, 10, "two tasks to start")
    first.shutdown()
    run = journal.get_run(handle.run_id)
    assert run is not None and run.status == RunStatus.RUNNING
    assert journal.list_runners() == []

    with DefaultRunner(db_url) as second:
        result = second.result(handle.run_id, timeout=15)
    assert result.status == "Completed", result.error_message
    check_chain_output(result.final_context.to_dict(), side)
    assert set(read_lines(side)) == set(CHAIN)
