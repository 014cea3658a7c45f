"""Distributed execution on PostgreSQL: real worker processes, real signals.

Workers are ``taskloom worker`` processes importing ``tests/pgapps/*.py``;
the test process is only a client (it loads the same files so that the
workflow versions match, but never executes a task). Side effects are
appended by the task bodies to a file, outside the engine, so "a completed
task never runs again" is checked against what really ran.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from taskloom import DefaultRunner
from taskloom.distributed.client import Client
from taskloom.journal.postgres import PostgresJournal

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses SIGKILL/SIGSTOP")

APPS = Path(__file__).parent / "pgapps"


# --------------------------------------------------------------------------- helpers


def load_app(name: str) -> ModuleType:
    """Execute ``pgapps/NAME.py`` under the module name the workers give it."""
    spec = importlib.util.spec_from_file_location(name, APPS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class WorkerProcess:
    """One ``taskloom worker`` child; its log goes to a file we can read."""

    def __init__(
        self,
        url: str,
        app: str,
        tmp: Path,
        side: Path,
        *,
        lease: float = 1.0,
        concurrency: int = 4,
        poll: float = 0.2,
    ) -> None:
        self.log = tmp / f"worker-{app}-{time.monotonic_ns()}.log"
        env = dict(os.environ, TASKLOOM_SIDE_FILE=str(side), PYTHONUNBUFFERED="1")
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taskloom",
                "worker",
                "--db",
                url,
                "--import",
                str(APPS / f"{app}.py"),
                "--lease",
                str(lease),
                "--poll",
                str(poll),
                "--concurrency",
                str(concurrency),
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_started(self, timeout: float = 20.0) -> None:
        wait_for(lambda: "started:" in self.text(), timeout, f"worker {self.pid} to start")

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def side_effects(path: Path) -> Counter[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return Counter()
    return Counter((line.split()[0], line.split()[1]) for line in lines if line)


def succeeded_events(journal: PostgresJournal, run_id: str) -> list[dict[str, Any]]:
    return [
        {"task": e.task_key, **json.loads(e.data_json or "{}")}
        for e in journal.get_events(run_id)
        if e.kind == "task_succeeded"
    ]


def task_rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


# --------------------------------------------------------------------------- tests


@pytest.mark.timeout(90)
def test_workers_share_100_runs_and_complete_every_task_once(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app("fleet_app")
    workers.extend(WorkerProcess(pg_url, "fleet_app", tmp_path, side) for _ in range(3))
    for worker in workers:
        worker.wait_started()
    with Client(pg_url) as client:
        run_ids = [client.submit("fleet", {"tag": f"r{i}"}) for i in range(100)]
        results = [client.result(run_id, timeout=60) for run_id in run_ids]
        assert {r.status for r in results} == {"Completed"}
        for result in results:
            assert set(result.final_context.to_dict()) >= {"a", "b", "c", "d", "e"}
            assert {o.attempts for o in result.task_results.values()} == {1}
        succeeded = Counter()
        by_worker: Counter[str] = Counter()
        for run_id in run_ids:
            for event in succeeded_events(client.journal, run_id):
                succeeded[(run_id, event["task"])] += 1
                by_worker[event["worker"]] += 1
    assert len(succeeded) == 500 and set(succeeded.values()) == {1}
    effects = side_effects(side)
    assert len(effects) == 500 and set(effects.values()) == {1}
    assert len(by_worker) >= 2, f"the work was not shared: {by_worker}"


@pytest.mark.timeout(90)
def test_sigkill_one_of_three_workers_mid_run(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app("fleet_app")
    workers.extend(WorkerProcess(pg_url, "fleet_app", tmp_path, side, lease=1.0) for _ in range(3))
    for worker in workers:
        worker.wait_started()
    victim = workers[0]
    with Client(pg_url) as client:
        run_ids = [client.submit("fleet", {"tag": f"k{i}", "sleep": 0.1}) for i in range(24)]

        def victim_is_running_tasks() -> bool:
            rows = task_rows(
                pg_url,
                "SELECT count(*) FROM task_runs WHERE status = 'Running' AND claimed_by LIKE %s",
                (f"%:{victim.pid}:%",),
            )
            return rows[0][0] > 0

        wait_for(victim_is_running_tasks, 20, "the victim to hold running tasks")
        completed_before = {
            (tag, key)
            for tag, key in task_rows(
                pg_url,
                "SELECT r.input_json::json->>'tag', t.task_key FROM task_runs t "
                "JOIN runs r USING (run_id) WHERE t.status = 'Completed'",
            )
        }
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        results = [client.result(run_id, timeout=60) for run_id in run_ids]
        assert {r.status for r in results} == {"Completed"}
        for run_id in run_ids:
            counts = Counter(e["task"] for e in succeeded_events(client.journal, run_id))
            assert set(counts.values()) == {1} and len(counts) == 5
    effects = side_effects(side)
    assert len(effects) == 24 * 5
    for done in completed_before:
        assert effects[done] == 1, f"{done} was completed before the kill but ran again"


@pytest.mark.timeout(60)
def test_frozen_worker_loses_its_lease_and_its_late_completion_is_rejected(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app("fleet_app")
    frozen = WorkerProcess(pg_url, "fleet_app", tmp_path, side, lease=1.0, concurrency=1)
    workers.append(frozen)
    frozen.wait_started()
    gate = tmp_path / "gate"
    with Client(pg_url) as client:
        # The body waits for the gate: frozen while it runs for sure, however
        # slow the machine (a body that ended before SIGSTOP landed left no
        # late completion to reject, and the test waited for it in vain).
        run_id = client.submit("stall", {"tag": "s", "gate": str(gate)})
        wait_for(lambda: Path(f"{gate}.began").exists(), 20, "the first worker to run the task")
        frozen.proc.send_signal(signal.SIGSTOP)
        gate.touch()
        rescuer = WorkerProcess(pg_url, "fleet_app", tmp_path, side, lease=1.0)
        workers.append(rescuer)
        result = client.result(run_id, timeout=30)
        assert result.status == "Completed"
        frozen.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: "late completion rejected" in frozen.text(), 20, "the rejection log")
        events = succeeded_events(client.journal, run_id)
        assert len(events) == 1
        assert f":{rescuer.pid}:" in events[0]["worker"]
        (row,) = task_rows(
            pg_url, "SELECT status, fence FROM task_runs WHERE run_id = %s", (run_id,)
        )
        assert row == ("Completed", 2)
    # Both bodies ran (at-least-once), but only one completion is recorded.
    assert side_effects(side)[("s", "only")] == 2


@pytest.mark.timeout(60)
def test_workers_with_different_workflows_never_touch_each_others_tasks(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    from taskloom import Context, WorkflowBuilder, task

    side = tmp_path / "side.txt"
    load_app("fleet_app")
    load_app("other_app")
    with WorkflowBuilder("nobody_runs_this"):

        @task(id="orphan")
        def orphan(ctx: Context) -> Context:
            return ctx

    fleet = WorkerProcess(pg_url, "fleet_app", tmp_path, side)
    other = WorkerProcess(pg_url, "other_app", tmp_path, side)
    workers.extend([fleet, other])
    fleet.wait_started()
    other.wait_started()
    with Client(pg_url) as client:
        unowned = client.submit("nobody_runs_this")
        fleet_runs = [client.submit("fleet", {"tag": f"f{i}"}) for i in range(10)]
        beta_runs = [client.submit("beta") for _ in range(10)]
        for run_id in fleet_runs + beta_runs:
            assert client.result(run_id, timeout=30).status == "Completed"
        for run_id in beta_runs:
            for event in succeeded_events(client.journal, run_id):
                assert f":{other.pid}:" in event["worker"]
        for run_id in fleet_runs:
            for event in succeeded_events(client.journal, run_id):
                assert f":{fleet.pid}:" in event["worker"]
        time.sleep(0.5)
        (row,) = task_rows(
            pg_url, "SELECT status, attempt FROM task_runs WHERE run_id = %s", (unowned,)
        )
        assert row == ("Ready", 0)
    assert "Traceback" not in fleet.text() + other.text()


@pytest.mark.timeout(60)
def test_a_client_only_submits_and_gets_results_by_notification(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app("fleet_app")
    worker = WorkerProcess(pg_url, "fleet_app", tmp_path, side)
    workers.append(worker)
    worker.wait_started()
    runner = DefaultRunner(pg_url, execute=False)
    try:
        assert not hasattr(runner, "_engine")  # nothing here can execute a task
        result = runner.execute("fleet", {"tag": "c1"})
        assert result.status == "Completed"
        handle = runner.start("fleet", {"tag": "c2"})
        assert handle.result(timeout=30).status == "Completed"
        assert runner.result(handle.run_id).run_id == handle.run_id
    finally:
        runner.shutdown()
    pids = {line.split()[2] for line in side.read_text().splitlines()}
    assert pids == {str(worker.pid)}


@pytest.mark.timeout(60)
def test_sigterm_drains_running_tasks_then_exits(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app("fleet_app")
    worker = WorkerProcess(pg_url, "fleet_app", tmp_path, side, lease=5.0)
    workers.append(worker)
    worker.wait_started()
    with Client(pg_url) as client:
        run_id = client.submit("stall", {"tag": "t", "sleep": 1.0})
        wait_for(
            lambda: (
                task_rows(pg_url, "SELECT status FROM task_runs WHERE run_id = %s", (run_id,))[0][0]
                == "Running"
            ),
            20,
            "the task to start",
        )
        second = client.submit("stall", {"tag": "u", "sleep": 0})
        worker.proc.terminate()
        assert worker.proc.wait(20) == 0
        assert client.result(run_id, timeout=5).status == "Completed"
        # Claimed nothing new while draining (the second run may have been
        # claimed before SIGTERM arrived; if so it was finished, not dropped).
        status = task_rows(pg_url, "SELECT status FROM task_runs WHERE run_id = %s", (second,))
        assert status[0][0] in ("Ready", "Completed")
    assert "draining" in worker.text()


@pytest.mark.timeout(60)
def test_the_run_done_notification_carries_the_result_the_journal_holds(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """The last completion finishes the run in its own commit and its notification
    carries the run and task rows: what ``execute`` returns without reading equals
    what a read of the journal gives afterwards."""
    load_app("fleet_app")
    worker = WorkerProcess(pg_url, "fleet_app", tmp_path, tmp_path / "side.txt")
    workers.append(worker)
    worker.wait_started()
    with Client(pg_url) as client:
        carried: list[str] = []
        notified = client._notified

        def spy(channel: str, payload: str) -> None:
            carried.append(payload)
            notified(channel, payload)

        client._notified = spy  # type: ignore[method-assign]
        client._listener._on_notify = spy
        result = client.execute("fleet", {"tag": "n1"}, timeout=30)
        read = client.result(result.run_id)
    assert result.status == "Completed"
    assert any(p.startswith(f"{result.run_id} Completed [") for p in carried), carried
    assert result.output == read.output
    assert result.end_time == read.end_time and result.start_time == read.start_time
    assert result.task_results.keys() == read.task_results.keys() == set("abcde")
    for key, outcome in result.task_results.items():
        assert outcome == read.task_results[key], key
    journal = PostgresJournal(pg_url)
    try:
        events = [e.kind for e in journal.get_events(result.run_id)]
    finally:
        journal.close()
    assert events[0] == "run_started" and events[-1] == "run_finished"
    assert events.count("task_succeeded") == 5
