"""Flows and step workflows executed by distributed workers (real processes).

The test process is only a client: it loads ``pgapps/dataflow_app.py`` so
that the flow versions match the workers', but never runs a task body.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from taskloom.distributed.client import Client, close_shared_clients
from taskloom.errors import TaskExecutionError, TaskloomError
from taskloom.steps import Client as StepClient
from test_postgres_workers import WorkerProcess, load_app, side_effects, task_rows, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses SIGKILL")

APP = "dataflow_app"


@pytest.fixture(autouse=True)
def _close_clients(pg_url: str) -> object:
    """Close the shared clients ``flow.submit`` opened before the database is dropped."""
    yield
    close_shared_clients()


@pytest.fixture
def workers() -> object:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def _status(url: str, run_id: str, key_like: str) -> str | None:
    rows = task_rows(
        url,
        "SELECT status FROM task_runs WHERE run_id = %s AND task_key LIKE %s",
        (run_id, key_like),
    )
    return rows[0][0] if rows else None


@pytest.mark.timeout(60)
def test_a_flow_shared_by_two_workers_completes_with_its_result(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    app = load_app(APP)
    workers.extend(WorkerProcess(pg_url, APP, tmp_path, side, concurrency=2) for _ in range(2))
    for worker in workers:
        worker.wait_started()
    handle = app.squares.submit(8, "f", 0.2, db=pg_url)
    assert handle.result(timeout=30) == {"total": 140, "parts": [i * i for i in range(8)]}
    assert handle.status() == "Completed"
    effects = side_effects(side)
    assert len(effects) == 9 and set(effects.values()) == {1}
    pids = {line.split()[2] for line in side.read_text().splitlines()}
    assert len(pids) == 2, f"the flow's nodes were not shared: {pids}"
    # Client.start_flow is the same thing, by name.
    with Client(pg_url) as client:
        again = client.start_flow("squares", 3, "g")
        assert again.result(timeout=30) == {"total": 5, "parts": [0, 1, 4]}


@pytest.mark.timeout(60)
def test_sigkilled_workers_flow_node_reruns_elsewhere_completed_nodes_do_not(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    app = load_app(APP)
    victim = WorkerProcess(pg_url, APP, tmp_path, side, lease=1.0)
    workers.append(victim)
    victim.wait_started()
    handle = app.chain.submit("k", 3.0, db=pg_url)
    wait_for(
        lambda: (
            _status(pg_url, handle.run_id, "square#1") == "Running"
            and side_effects(side)[("k", "square1")] == 1
            and side_effects(side)[("k", "square3")] == 1
        ),
        20,
        "the slow node to run after the quick ones completed",
    )
    rescuer = WorkerProcess(pg_url, APP, tmp_path, side, lease=1.0)
    workers.append(rescuer)
    rescuer.wait_started()
    victim.proc.kill()
    victim.proc.wait()
    assert handle.result(timeout=30) == 1 + 4 + 9
    effects = side_effects(side)
    assert effects[("k", "square1")] == 1 and effects[("k", "square3")] == 1
    assert effects[("k", "square2")] == 1 and effects[("k", "total")] == 1
    lines = side.read_text().splitlines()
    assert f"k square2 {rescuer.pid}" in lines


@pytest.mark.timeout(60)
def test_fail_fast_flow_raises_and_cancels_the_rest(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    app = load_app(APP)
    worker = WorkerProcess(pg_url, APP, tmp_path, side)
    workers.append(worker)
    worker.wait_started()
    handle = app.failing.submit("x", db=pg_url)
    with pytest.raises(TaskExecutionError, match="boom in x"):
        handle.result(timeout=30)
    assert handle.status() == "Failed"
    statuses = dict(
        task_rows(
            pg_url, "SELECT task_key, status FROM task_runs WHERE run_id = %s", (handle.run_id,)
        )
    )
    assert statuses["boom#0"] == "Failed"
    assert statuses["total#0"] == "Cancelled"
    # continue: the failure does not stop the rest; the result has its error in its
    # place (None for the skipped dependent).
    tolerant = Client(pg_url).start_flow(app.failing, "y", failure_policy="continue")
    failure, skipped = tolerant.result(timeout=30)
    assert isinstance(failure, TaskExecutionError) and failure.node == "boom#0"
    assert skipped is None


@pytest.mark.timeout(60)
def test_cancel_a_distributed_flow_rejects_the_running_nodes_completion(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    app = load_app(APP)
    worker = WorkerProcess(pg_url, APP, tmp_path, side)
    workers.append(worker)
    worker.wait_started()
    handle = app.chain.submit("c", 1.0, db=pg_url)
    wait_for(lambda: _status(pg_url, handle.run_id, "square#1") == "Running", 20, "the slow node")
    assert handle.cancel() is True
    assert handle.cancel() is False
    with pytest.raises(TaskloomError, match="cancelled by request"):
        handle.result(timeout=30)
    # The worker hears of the cancel (NOTIFY) and abandons the node, or -- if
    # the body ended first -- its completion is rejected: either way, logged.
    wait_for(
        lambda: "late completion rejected" in worker.text() or "abandoning its" in worker.text(),
        20,
        "the worker to drop or be refused the cancelled node",
    )
    statuses = {
        s
        for (s,) in task_rows(
            pg_url, "SELECT status FROM task_runs WHERE run_id = %s", (handle.run_id,)
        )
    }
    assert statuses <= {"Completed", "Cancelled"} and "Cancelled" in statuses


def test_submitting_a_flow_needs_a_postgresql_url() -> None:
    from taskloom import fan_out, flow, task

    @task
    def double(x: int) -> int:
        return 2 * x

    @flow
    def limited() -> object:
        return fan_out(double, [1, 2, 3], max_concurrency=2)

    with pytest.raises(ValueError, match="postgresql"):
        limited.submit(db="sqlite:///nowhere.db")


def _spans(side: Path, tag: str) -> list[tuple[str, float, float]]:
    """(name, start, end) of the timed calls of ``tag`` (the side file's span lines)."""
    found = []
    for line in side.read_text().splitlines():
        parts = line.split()
        if parts[0] == tag and parts[1].startswith("span"):
            found.append((parts[1], float(parts[3]), float(parts[4])))
    return found


def _most_at_once(spans: list[tuple[str, float, float]]) -> int:
    edges = sorted([(s, 1) for _, s, _ in spans] + [(e, -1) for _, _, e in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.mark.timeout(90)
def test_concurrency_limits_hold_across_workers(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """A run's max_concurrency and a fan_out's max_concurrency bound what runs at once
    over all workers together (two workers with 4 slots each)."""
    side = tmp_path / "side.txt"
    app = load_app(APP)
    workers.extend(WorkerProcess(pg_url, APP, tmp_path, side, concurrency=4) for _ in range(2))
    for worker in workers:
        worker.wait_started()
    with Client(pg_url) as client:
        run = client.start_flow("spans", 6, "r", 0.3, max_concurrency=2)
        assert run.result(timeout=60) == list(range(6))
    spans = _spans(side, "r")
    assert len(spans) == 6
    assert _most_at_once(spans) == 2, spans
    fan = app.limited_fan.submit(6, "g", 0.3, db=pg_url)
    assert fan.result(timeout=60) == sum(range(6)) + 201
    grouped = [s for s in _spans(side, "g") if int(s[0][4:]) < 100]
    assert len(grouped) == 6
    assert _most_at_once(grouped) == 2, grouped
    # The unlimited calls beside the group are not held back by it.
    assert _most_at_once(_spans(side, "g")) >= 3


@pytest.mark.timeout(60)
def test_a_step_workflow_with_a_task_and_a_wait_runs_on_a_worker(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app(APP)
    worker = WorkerProcess(pg_url, APP, tmp_path, side)
    workers.append(worker)
    worker.wait_started()
    client = StepClient(pg_url, execute=False)
    handle = client.start_workflow("pg_order", "o-1", {"amount": 5.0, "tag": "o1"})
    wait_for(lambda: _status(pg_url, "o-1", "workflow") == "Suspended", 20, "the wait")
    (ready_at,) = task_rows(
        pg_url, "SELECT ready_at FROM task_runs WHERE run_id = 'o-1' AND task_key = 'workflow'"
    )[0]
    assert ready_at is not None  # the wait's 60 s timeout is the durable wake-up
    started = time.monotonic()
    handle.send("approve", {"by": "ann"})
    assert handle.result(timeout=20) == {"txn": "txn-o1", "by": "ann"}
    assert time.monotonic() - started < 1.0, "a send must wake the suspended run at once"
    assert handle.describe().steps == ["begin", "approve"]
    effects = side_effects(side)
    assert effects[("o1", "charge")] == 1 and effects[("o1", "confirm")] == 1


@pytest.mark.timeout(60)
def test_sigkill_mid_step_another_worker_finishes_without_rerunning_operations(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app(APP)
    victim = WorkerProcess(pg_url, APP, tmp_path, side, lease=1.0)
    workers.append(victim)
    victim.wait_started()
    client = StepClient(pg_url, execute=False)
    handle = client.start_workflow("pg_order", "o-2", {"amount": 5.0, "tag": "o2", "pause": 3.0})
    wait_for(lambda: _status(pg_url, "o-2", "workflow") == "Suspended", 20, "the wait")
    handle.send("approve", {"by": "bob"})
    wait_for(lambda: _status(pg_url, "o-2", "%:confirm") == "Running", 20, "confirm to start")
    rescuer = WorkerProcess(pg_url, APP, tmp_path, side, lease=1.0)
    workers.append(rescuer)
    rescuer.wait_started()
    victim.proc.kill()
    victim.proc.wait()
    assert handle.result(timeout=30) == {"txn": "txn-o2", "by": "bob"}
    effects = side_effects(side)
    assert effects[("o2", "charge")] == 1, "a completed operation ran again"
    assert effects[("o2", "confirm")] == 1
    assert f"o2 confirm {rescuer.pid}" in side.read_text().splitlines()


@pytest.mark.timeout(60)
def test_get_context_in_a_task_run_by_a_worker(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    app = load_app(APP)
    worker = WorkerProcess(pg_url, APP, tmp_path, tmp_path / "side.txt")
    workers.append(worker)
    worker.wait_started()
    handle = app.context_flow.submit(tag="w", db=pg_url)
    assert handle.result(timeout=30) == [
        handle.run_id,
        "context_flow",
        "whoami",
        "whoami#0",
        1,
        {"tag": "w"},
    ]
