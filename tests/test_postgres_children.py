"""Child step workflows started by steps running on distributed workers (real processes).

The workflows live in ``pgapps/children_app.py``; the test process runs
them locally too (SQLite), and the workers' results must be the same.
Task bodies note what really ran in a side file, outside the engine.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from taskloom.distributed.client import Client
from taskloom.errors import RunNotFoundError
from taskloom.steps import Client as StepClient
from taskloom.steps import StepFailed, WorkflowFailed
from test_postgres_workers import WorkerProcess, load_app, side_effects, task_rows, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses SIGKILL")

APP = "children_app"


@pytest.fixture
def workers() -> object:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def _start_workers(
    workers: list[WorkerProcess], url: str, tmp: Path, side: Path, n: int = 1, **options: Any
) -> list[WorkerProcess]:
    new = [WorkerProcess(url, APP, tmp, side, **options) for _ in range(n)]
    workers.extend(new)
    for worker in new:
        worker.wait_started()
    return new


def _status(url: str, run_id: str, key_like: str = "workflow") -> str | None:
    rows = task_rows(
        url,
        "SELECT status FROM task_runs WHERE run_id = %s AND task_key LIKE %s",
        (run_id, key_like),
    )
    return rows[0][0] if rows else None


def _runs(url: str) -> dict[str, tuple[str, str | None, str | None]]:
    """run_id -> (status, parent_id, error) of every run."""
    rows = task_rows(url, "SELECT run_id, status, parent_id, error FROM runs")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _failure(call: Any) -> tuple[str, str, str]:
    with pytest.raises(WorkflowFailed) as caught:
        call()
    return type(caught.value).__name__, caught.value.details.type, caught.value.details.message


def _scenarios(client: StepClient, cancel_child: Any) -> dict[str, Any]:
    """Every child scenario on ``client``; what each returned or raised."""
    out: dict[str, Any] = {}
    out["parent"] = client.run_workflow("pgc_parent", "p", {"tag": "p"}, timeout=30)
    out["detached"] = client.get_handle("p.s000.0001").result(timeout=30)
    out["fan"] = client.run_workflow("pgc_fan", "f", {"tag": "f", "count": 4}, timeout=30)
    out["catch"] = client.run_workflow("pgc_catch", "c", {"tag": "c"}, timeout=30)
    out["uncaught"] = _failure(
        lambda: client.run_workflow("pgc_uncaught", "u", {"tag": "u"}, timeout=30)
    )
    watcher = client.start_workflow("pgc_watcher", "w")
    wait_for(lambda: cancel_child("w-kid"), 20, "the watched child to be cancelled")
    out["watcher"] = watcher.result(timeout=30)
    out["kid"] = _failure(lambda: client.get_handle("w-kid").result(timeout=30))
    return out


@pytest.mark.timeout(90)
def test_children_on_workers_give_what_they_give_locally(
    pg_url: str, db_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Run child, detached child, gathered children, a child's failure caught and
    uncaught, a cancelled child: the same results as a local run."""
    side = tmp_path / "side.txt"
    load_app(APP)
    local_client = StepClient(db_url)

    def cancel_local(run_id: str) -> bool:
        try:
            return local_client.get_handle(run_id).cancel()
        except RunNotFoundError:
            return False  # not started yet

    local = _scenarios(local_client, cancel_local)
    assert local["parent"] == {"before": "before", "detached": "p.s000.0001", "a": 10, "b": 20}
    assert local["fan"] == [0, 10, 20, 30]
    assert local["catch"] == ["Negative", "-1 < 0"]
    assert local["uncaught"][:2] == ("StepFailed", "WorkflowFailed")
    assert local["watcher"] == "Cancelled"

    _start_workers(workers, pg_url, tmp_path, side, n=2, concurrency=2)
    client = StepClient(pg_url, execute=False)

    def cancel_remote(run_id: str) -> bool:
        return _status(pg_url, run_id) == "Suspended" and client.get_handle(run_id).cancel()

    assert _scenarios(client, cancel_remote) == local
    runs = _runs(pg_url)
    assert {r: p for r, (_, p, _) in runs.items() if p is not None} == {
        "p.s000.0001": "p",
        "p.s000.0003": "p",
        "p-named": "p",
        **{f"f.s000.000{i}": "f" for i in range(4)},
        "c.s000.0000": "c",
        "u.s000.0000": "u",
        "w-kid": "w",
    }
    effects = side_effects(side)
    assert effects[("p", "before")] == 1 and effects[("p", "slow")] == 1
    assert {effects[("p", f"work{n}")] for n in (1, 2, 7)} == {1}
    assert {effects[("f", f"work{n}")] for n in range(4)} == {1}


@pytest.mark.timeout(60)
def test_a_child_wakes_its_parent_at_once_not_by_a_poll(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """A chain of 5 nested children: each parent is woken by the commit that ends its
    child. The workers' fallback poll is 30 s and a polled child costs 1 s, so the
    chain finishes in time only if every wake-up comes from the database."""
    side = tmp_path / "side.txt"
    load_app(APP)
    _start_workers(workers, pg_url, tmp_path, side, n=2, poll=30.0)
    client = StepClient(pg_url, execute=False)
    assert client.run_workflow("pgc_nest", "warm", {"depth": 1}, timeout=20) == [
        "warm",
        "warm.s000.0000",
    ]
    started = time.monotonic()
    chain = client.run_workflow("pgc_nest", "n", {"depth": 5}, timeout=20)
    elapsed = time.monotonic() - started
    assert chain == ["n" + ".s000.0000" * i for i in range(6)]
    assert elapsed < 3.0, f"a chain of 5 children took {elapsed:.2f} s"
    journal = client._engine.journal
    for run_id in chain[:-1]:
        suspended = [
            json.loads(e.data_json or "{}")
            for e in journal.get_events(run_id)
            if e.kind == "task_suspended"
        ]
        assert suspended and all(s["wake_in"] is None for s in suspended), suspended


@pytest.mark.timeout(60)
def test_sigkill_while_the_child_runs_and_the_parent_waits(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app(APP)
    (victim,) = _start_workers(workers, pg_url, tmp_path, side)
    client = StepClient(pg_url, execute=False)
    handle = client.start_workflow("pgc_parent", "k", {"tag": "k", "pause": 2.0})
    wait_for(lambda: _status(pg_url, "k.s000.0003", "%:work") == "Running", 20, "the child")
    wait_for(lambda: _status(pg_url, "k") == "Suspended", 20, "the parent to wait for it")
    victim.proc.kill()  # before starting the rescuer: see the test below
    victim.proc.wait()
    (rescuer,) = _start_workers(workers, pg_url, tmp_path, side)
    assert handle.result(timeout=30) == {
        "before": "before",
        "detached": "k.s000.0001",
        "a": 10,
        "b": 20,
    }
    effects = side_effects(side)
    assert effects[("k", "before")] == 1 and effects[("k", "slow")] == 1
    assert {effects[("k", f"work{n}")] for n in (1, 2, 7)} == {1}
    assert f"k work1 {rescuer.pid}" in side.read_text().splitlines()  # killed mid-child
    children = {r for r, (_, p, _) in _runs(pg_url).items() if p == "k"}
    assert children == {"k.s000.0001", "k.s000.0003", "k-named"}


@pytest.mark.timeout(60)
def test_sigkill_while_the_parent_step_runs_after_starting_a_child(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """The parent's step is re-executed by another worker: the child it started is
    found (one child run), completed operations are not run again."""
    side = tmp_path / "side.txt"
    load_app(APP)
    (victim,) = _start_workers(workers, pg_url, tmp_path, side)
    client = StepClient(pg_url, execute=False)
    handle = client.start_workflow("pgc_parent", "s", {"tag": "s", "parent_pause": 2.0})
    wait_for(lambda: _status(pg_url, "s", "s000.0002#%:mark") == "Running", 20, "the slow op")
    wait_for(lambda: _runs(pg_url)["s.s000.0001"][0] == "Completed", 20, "the detached child")
    # Killed first, the rescuer started after: starting a worker on a loaded
    # machine can take longer than the slow operation has left to run.
    victim.proc.kill()
    victim.proc.wait()
    (rescuer,) = _start_workers(workers, pg_url, tmp_path, side)
    assert handle.result(timeout=30)["detached"] == "s.s000.0001"
    effects = side_effects(side)
    assert effects[("s", "before")] == 1 and effects[("s", "work7")] == 1
    assert effects[("s", "slow")] == 1  # in flight when killed: run again, noted once
    assert f"s slow {rescuer.pid}" in side.read_text().splitlines()
    children = {r for r, (_, p, _) in _runs(pg_url).items() if p == "s"}
    assert children == {"s.s000.0001", "s.s000.0003", "s-named"}


@pytest.mark.timeout(60)
def test_cancelling_a_parent_on_workers_cancels_its_children_and_only_them(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    load_app(APP)
    _start_workers(workers, pg_url, tmp_path, side)
    client = StepClient(pg_url, execute=False)
    root = client.start_workflow("pgc_tree", "t", {"depth": 2})
    other = client.start_workflow("pgc_waiter", "other")
    tree = {
        "t",
        "t.s000.0000",
        "t.s000.0001",
        "t.s000.0001.s000.0000",
        "t.s000.0001.s000.0001",
    }
    wait_for(lambda: all(_status(pg_url, r) == "Suspended" for r in tree), 20, "the tree")
    assert root.cancel() is True
    runs = _runs(pg_url)
    assert {r: runs[r][0] for r in tree} == dict.fromkeys(tree, "Cancelled")
    assert runs["t"][2] == "cancelled by request"
    assert {runs[r][2] for r in tree - {"t"}} == {"cancelled by request (cancelled with run t)"}
    queued = "SELECT run_id FROM task_runs WHERE workflow IS NOT NULL AND status <> %s"
    assert task_rows(pg_url, queued, ("Cancelled",)) == [("other",)]
    assert root.cancel() is False
    with pytest.raises(WorkflowFailed, match="Cancelled"):
        root.result(timeout=30)
    other.send("go")
    assert other.result(timeout=20) == "went"
    # A child id already used by a run of another workflow fails the parent's step.
    client.start_workflow("pgc_waiter", "taken-named")
    with pytest.raises(StepFailed, match="already used by a 'pgc_waiter' run"):
        client.run_workflow("pgc_parent", "taken", {"tag": "taken"}, timeout=20)


def test_a_child_run_is_created_once_and_never_under_an_ended_parent(pg_schema_url: str) -> None:
    """The queue primitives alone: concurrent starts of one child id create one run;
    a cancelled parent cancels its child and gets no new one."""
    from concurrent.futures import ThreadPoolExecutor

    from taskloom.journal.queue_records import QueuedTask
    from taskloom.journal.records import RunRecord
    from taskloom.steps import Workflow
    from taskloom.steps.remote import queue_child

    child = Workflow(workflow_type="queue_child")
    with Client(pg_schema_url) as client:
        queue = client.queue
        parent = RunRecord("parent", "queue_parent", "1", "steps", "Running", "{}", time.time())
        queue.enqueue_run(parent, [QueuedTask("workflow", 0)])
        with ThreadPoolExecutor(4) as pool:
            starts = list(
                pool.map(lambda _: queue_child(queue, child, "kid", "{}", "parent"), range(4))
            )
        assert sorted(starts) == ["created", "exists", "exists", "exists"]
        assert client.cancel("parent") is True
        assert client.journal.get_run("kid").status == "Cancelled"  # type: ignore[union-attr]
        assert queue_child(queue, child, "late", "{}", "parent") == "parent ended"
        assert client.journal.get_run("late") is None
