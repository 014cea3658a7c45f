"""Dynamic ``fan_out`` over a node, executed by ``taskloom worker`` processes.

The calls of such a fan-out exist only once their upstream node has run:
the worker that records the upstream's completion inserts their rows in the
same transaction. These tests check the result against ``flow.run``, count
what really ran in the side file the task bodies append to (outside the
engine), and look at the queue's rows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from taskloom import Worker
from taskloom.dataflow.runner import plan_flow
from taskloom.dataflow.values import decode_value, encode_value
from taskloom.distributed import growth
from taskloom.distributed.batch_commit import Pending
from taskloom.distributed.client import Client
from taskloom.errors import TaskExecutionError, TaskFailedError
from taskloom.journal.queue_records import ClaimedTask
from taskloom.journal.records import TaskStatus
from test_postgres_distributed_styles import _most_at_once, _spans
from test_postgres_workers import WorkerProcess, load_app, side_effects, task_rows, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses SIGKILL")

APP = "dataflow_app"


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def _calls(url: str, run_id: str, collector: str) -> dict[str, tuple[str, int]]:
    """``key -> (status, attempt)`` of the rows a fan-out added to a run."""
    rows = task_rows(
        url,
        "SELECT task_key, status, attempt FROM task_runs WHERE run_id = %s AND task_key LIKE %s",
        (run_id, f"{collector}[%"),
    )
    return {key: (status, attempt) for key, status, attempt in rows}


def _pids(side: Path, tag: str, prefix: str) -> set[str]:
    """The worker pids that ran the calls of ``tag`` whose names start with ``prefix``."""
    return {
        parts[2]
        for parts in (line.split() for line in side.read_text().splitlines())
        if parts[0] == tag and parts[1].startswith(prefix)
    }


@pytest.mark.timeout(60)
def test_a_dynamic_fan_out_shared_by_two_workers_returns_what_flow_run_returns(
    pg_url: str, db_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    app = load_app(APP)
    workers.extend(WorkerProcess(pg_url, APP, tmp_path, side, concurrency=2) for _ in range(2))
    for worker in workers:
        worker.wait_started()
    handle = app.dynamic_fan.submit(8, "d", 0.1, db=pg_url)
    local: Any = app.dynamic_fan.run(8, "d", 0.0, db=db_url)
    assert handle.result(timeout=30) == local == {"parts": list(range(8)), "total": 28}
    calls = _calls(pg_url, handle.run_id, "timed#0")
    assert calls == {f"timed#0[{i}]": ("Completed", 1) for i in range(8)}
    effects = side_effects(side)
    assert effects[("d", "specs")] == 1 and effects[("d", "total")] == 1
    assert all(effects[("d", f"span{i}")] == 1 for i in range(8)), effects
    # The calls were shared: the worker that did not expand the fan-out planned
    # the grown run itself and claimed some of them.
    assert len(_pids(side, "d", "span")) == 2
    (expanded_by,) = _pids(side, "d", "specs")
    assert _pids(side, "d", "span") - {expanded_by}

    # Two fan-outs over one upstream; a fan-out over an empty list.
    twins = app.twin_fans.submit(3, "t", db=pg_url)
    empty = app.dynamic_fan.submit(0, "e", 0.0, db=pg_url)
    assert twins.result(timeout=30) == app.twin_fans.run(3, "t", db=db_url)
    assert twins.result() == [[0, 1, 2], ["t-0", "t-1", "t-2"]]
    assert set(_calls(pg_url, twins.run_id, "timed#0")) == {f"timed#0[{i}]" for i in range(3)}
    assert set(_calls(pg_url, twins.run_id, "label#0")) == {f"label#0[{i}]" for i in range(3)}
    effects = side_effects(side)
    assert all(effects[("t", f"{name}{i}")] == 1 for name in ("span", "label") for i in range(3))
    assert empty.result(timeout=30) == {"parts": [], "total": 0}
    assert _calls(pg_url, empty.run_id, "timed#0") == {}
    (added,) = task_rows(
        pg_url,
        "SELECT data_json FROM events WHERE run_id = %s AND kind = 'nodes_added'",
        (handle.run_id,),
    )
    assert added == ('{"after": "specs#0", "nodes": 8}',)


@pytest.mark.timeout(60)
def test_a_dynamic_fan_outs_max_concurrency_holds_across_workers(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    app = load_app(APP)
    workers.extend(WorkerProcess(pg_url, APP, tmp_path, side, concurrency=4) for _ in range(2))
    for worker in workers:
        worker.wait_started()
    handle = app.dynamic_fan.submit(6, "m", 0.3, 2, db=pg_url)
    assert handle.result(timeout=30) == {"parts": list(range(6)), "total": 15}
    spans = _spans(side, "m")
    assert len(spans) == 6
    assert _most_at_once(spans) == 2, spans
    groups = task_rows(
        pg_url,
        "SELECT DISTINCT conc_group, group_limit FROM task_runs "
        "WHERE run_id = %s AND task_key LIKE 'timed#0[%%'",
        (handle.run_id,),
    )
    assert groups == [("fan_out#0", 2)]


@pytest.mark.timeout(60)
def test_failures_in_a_dynamic_fan_out_behave_as_locally(
    pg_url: str, db_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """A result that is not iterable fails the collector with the local TypeError text;
    a failing call fails the run (fail_fast) or leaves None in the list (continue)."""
    side = tmp_path / "side.txt"
    app = load_app(APP)
    worker = WorkerProcess(pg_url, APP, tmp_path, side)
    workers.append(worker)
    worker.wait_started()
    with pytest.raises(TaskExecutionError) as local:
        app.scalar_fan.run("l", db=db_url)
    assert isinstance(local.value.original, TypeError)
    assert "which is not iterable" in str(local.value)
    handle = app.scalar_fan.submit("n", db=pg_url)
    with pytest.raises(TaskExecutionError) as remote:
        handle.result(timeout=30)
    assert isinstance(remote.value.original, TaskFailedError)
    assert str(remote.value.original) == (
        f"task 'timed#0' failed: TypeError: {local.value.original}"
    )
    assert handle.status() == "Failed"
    # continue: the collector fails, the flow's result has its error in place (as locally).
    with Client(pg_url) as client:
        tolerant = client.start_flow("scalar_fan", "c", failure_policy="continue")
        remote_value = tolerant.result(timeout=30)
    local_value = app.scalar_fan.run("c", db=db_url, failure_policy="continue")
    for value in (remote_value, local_value):
        assert isinstance(value, TaskExecutionError) and value.node == "timed#0"

    strict = app.picky_fan.submit(3, "p", db=pg_url)
    with pytest.raises(TaskExecutionError, match="ValueError: picky p 1"):
        strict.result(timeout=30)
    statuses = dict(
        task_rows(
            pg_url, "SELECT task_key, status FROM task_runs WHERE run_id = %s", (strict.run_id,)
        )
    )
    assert statuses["picky#0[1]"] == "Failed" and statuses["picky#0"] == "Cancelled"
    lenient = app.picky_fan.submit(3, "q", db=pg_url, failure_policy="continue")
    expected = app.picky_fan.run(3, "q", db=db_url, failure_policy="continue")
    assert lenient.result(timeout=30) == expected == {"parts": [0, None, 2], "total": None}


@pytest.mark.timeout(60)
def test_sigkill_during_the_fan_out_calls_another_worker_finishes_without_rerunning_them(
    pg_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    side = tmp_path / "side.txt"
    app = load_app(APP)
    victim = WorkerProcess(pg_url, APP, tmp_path, side, lease=1.0, concurrency=2)
    workers.append(victim)
    victim.wait_started()
    handle = app.dynamic_fan.submit(8, "k", 1.0, db=pg_url)

    def midway() -> bool:
        statuses = [status for status, _ in _calls(pg_url, handle.run_id, "timed#0").values()]
        return statuses.count("Completed") >= 2 and "Running" in statuses

    wait_for(midway, 20, "some calls to complete while others run")
    rescuer = WorkerProcess(pg_url, APP, tmp_path, side, lease=1.0, concurrency=4)
    workers.append(rescuer)
    rescuer.wait_started()
    done_before = {
        key
        for key, (status, _) in _calls(pg_url, handle.run_id, "timed#0").items()
        if status == "Completed"
    }
    victim.proc.kill()
    victim.proc.wait()
    assert handle.result(timeout=30) == {"parts": list(range(8)), "total": 28}
    effects = side_effects(side)
    assert effects[("k", "specs")] == 1
    assert done_before
    for key in done_before:
        assert effects[("k", f"span{key[len('timed#0[') : -1]}")] == 1, key
    assert all(effects[("k", f"span{i}")] >= 1 for i in range(8))
    assert len(_calls(pg_url, handle.run_id, "timed#0")) == 8
    assert str(rescuer.pid) in _pids(side, "k", "span")


def _completed(worker: Worker, claim: ClaimedTask, value: Any) -> Pending:
    """What a worker records when ``claim``'s task returns ``value``, grown as it would be."""
    shape = worker.plans.for_claim(claim)
    assert shape is not None
    output = encode_value(value, "test")
    return Pending(
        claim.outcome(
            TaskStatus.COMPLETED,
            output_json=output,
            event_kind="task_succeeded",
        ),
        shape,
        None,
        grown=growth.expand(shape, claim, output),
    )


def _growth_rows(worker: Worker, run_id: str) -> tuple[list[str], tuple[str, int], int]:
    """The run's call rows, its collector's (status, remaining_deps), its nodes_added events."""
    with worker.journal.connection() as conn:
        calls = [
            key
            for (key,) in conn.execute(
                "SELECT task_key FROM task_runs WHERE run_id = %s AND task_key LIKE 'timed#0[%%' "
                "ORDER BY seq",
                (run_id,),
            )
        ]
        collector = conn.execute(
            "SELECT status, remaining_deps FROM task_runs "
            "WHERE run_id = %s AND task_key = 'timed#0'",
            (run_id,),
        ).fetchone()
        events = conn.execute(
            "SELECT count(*) FROM events WHERE run_id = %s AND kind = 'nodes_added'", (run_id,)
        ).fetchone()
    assert collector is not None and events is not None
    return calls, (collector[0], collector[1]), events[0]


@pytest.mark.timeout(60)
def test_a_run_grows_once_whoever_completes_its_upstream_and_however_often(
    pg_schema_url: str,
) -> None:
    """Two workers race for the upstream (its lease expired): the fenced-out completion adds
    no row, and the run finishes with exactly one set of calls. Sending an accepted commit
    again (as after a commit whose outcome was lost) adds no row either."""
    app = load_app(APP)
    items = [[i, "r", 0.0] for i in range(3)]
    first, second, third = (
        Worker(pg_schema_url, flows=[app.dynamic_fan], lease=30.0) for _ in "abc"
    )
    try:
        with Client(pg_schema_url) as client:
            calls = [f"timed#0[{i}]" for i in range(3)]
            resent = client.start_flow("dynamic_fan", 3, "s", 0.0)
            (claim,) = second.queue.claim(second.worker_id, 5, 30.0, second.workflows)
            recorded = _completed(second, claim, items)
            assert second.commits.commit([recorded]) == ({(resent.run_id, "specs#0")}, 3)
            assert second.commits.commit([recorded]) == (set(), 0)
            assert _growth_rows(second, resent.run_id) == (calls, ("Pending", 3), 1)
            assert resent.cancel()

            raced = client.start_flow("dynamic_fan", 3, "r", 0.0)
            (stale,) = first.queue.claim(first.worker_id, 5, 30.0, first.workflows)
            # A third worker plans the run before it grows (as for another node's claim).
            lagging = third.plans.for_claim(replace(stale, task_key="total#0"))
            assert lagging is not None and "timed#0[0]" not in lagging.plan.nodes
            with first.journal.transaction() as conn:
                conn.execute(
                    "UPDATE task_runs SET lease_until = 0 WHERE run_id = %s", (raced.run_id,)
                )
            (current,) = second.queue.claim(
                second.worker_id, 5, 30.0, second.workflows, expired=True
            )
            assert stale.task_key == current.task_key == "specs#0"
            assert current.fence == stale.fence + 1
            assert first.commits.commit([_completed(first, stale, items)]) == (set(), 0)
            assert _growth_rows(first, raced.run_id) == ([], ("Pending", 1), 0)
            accepted = second.commits.commit([_completed(second, current, items)])
            assert accepted == ({(raced.run_id, "specs#0")}, 3)
            assert _growth_rows(second, raced.run_id) == (calls, ("Pending", 3), 1)
            # Its plan lags now: claiming the collector or a call plans the run again.
            for key in ("timed#0", "timed#0[1]"):
                shape = third.plans.for_claim(replace(stale, task_key=key))
                assert shape is not None and shape is not lagging
                assert shape.plan.nodes["timed#0"].deps == ("specs#0", *calls)
                assert shape.dependents["timed#0[1]"] == ["timed#0"]

            first.start()
            second.start()
            assert raced.result(timeout=30) == {"parts": [0, 1, 2], "total": 3}
            assert _growth_rows(second, raced.run_id)[0] == calls
    finally:
        for worker in (first, second, third):
            if worker._thread is None:
                worker.start()
            worker.stop(timeout=10)


def test_a_lagging_plan_catches_up_before_it_finishes_a_run() -> None:
    """A worker finishing a run whose plan missed an expansion (another worker made it)
    expands it from the upstream's recorded result and reads the calls' rows too, so a
    collector that did not complete still shows the calls that did."""
    app = load_app(APP)
    plan = plan_flow(app.dynamic_fan, (2, "u", 0.0), {}, "continue", None, None)
    assert "specs#0" in plan.result_keys()
    rows = {
        "specs#0": ("specs#0", "Completed", encode_value([[0, "u", 0], [1, "u", 0]], ""), None),
        "timed#0[0]": ("timed#0[0]", "Completed", "0", None),
        "timed#0[1]": ("timed#0[1]", "Failed", None, "ValueError: no"),
        "timed#0": ("timed#0", "Skipped", None, None),
        "total#0": ("total#0", "Skipped", None, None),
    }
    read: list[list[str]] = []

    def outcome_rows(keys: Sequence[str]) -> list[growth.OutcomeRow]:
        read.append(list(keys))
        return [rows[key] for key in keys]

    first = outcome_rows(plan.result_keys())
    caught_up = growth.catch_up(plan, first, outcome_rows)
    assert {row[0] for row in caught_up} >= {"timed#0[0]", "timed#0[1]"}
    assert "specs#0" not in plan.result_keys() and len(read) == 2
    outputs = {key: out for key, status, out, _ in caught_up if out is not None}
    assert decode_value(plan.final_output(outputs, "{}")) == {"parts": [0, None], "total": None}
