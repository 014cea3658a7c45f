"""fan_out: static and dynamic, max_concurrency, failure policies, journal, crash and resume."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashkit import kill_when_reached, run_to_end
from taskloom import AggregateTaskError, fan_out, flow, task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.errors import TaskExecutionError
from taskloom.journal import TaskStatus, open_journal


@pytest.fixture(autouse=True)
def _engines() -> Iterator[None]:
    yield
    shutdown_engines()


class Gauge:
    """Counts calls running at the same time and remembers the peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.running -= 1


@task
def produce(n: int) -> list[int]:
    return list(range(n))


@task
def total(values: list[int]) -> int:
    return sum(values)


@task
async def scrambled(i: int) -> int:
    # Later items finish first: results must still come back in item order.
    await asyncio.sleep(0.01 * (5 - i % 5))
    return i * i


def test_static_and_dynamic_fan_out_return_results_in_item_order(db_url: str) -> None:
    @flow
    def both(n: int) -> Any:
        dynamic = fan_out(scrambled, produce(n))
        return {"static": fan_out(scrambled, range(n)), "dynamic": dynamic, "sum": total(dynamic)}

    squares = [i * i for i in range(10)]
    assert both.run(10, db=db_url) == {"static": squares, "dynamic": squares, "sum": sum(squares)}


@pytest.mark.parametrize("style", ["static", "dynamic"])
def test_max_concurrency_limits_the_fan_out(db_url: str, style: str) -> None:
    gauge = Gauge()

    @task
    def busy(i: int) -> int:
        with gauge:
            time.sleep(0.03)
        return i

    @flow
    def limited() -> Any:
        items = range(12) if style == "static" else produce(12)
        return fan_out(busy, items, max_concurrency=3)

    assert limited.run(db=db_url) == list(range(12))
    assert 1 < gauge.peak <= 3


def test_other_nodes_use_the_slots_a_limited_fan_out_leaves_free(db_url: str) -> None:
    fan_gauge, all_gauge = Gauge(), Gauge()
    ends: dict[str, float] = {}

    @task
    def slow(i: int) -> int:
        with fan_gauge, all_gauge:
            time.sleep(0.05)
        ends[f"slow{i}"] = time.monotonic()
        return i

    @task
    def quick(i: int) -> int:
        with all_gauge:
            time.sleep(0.02)
        ends[f"quick{i}"] = time.monotonic()
        return i

    @flow
    def mixed() -> Any:
        return [fan_out(slow, produce(6), max_concurrency=1), [quick(i) for i in range(6)]]

    assert mixed.run(max_concurrency=2, db=db_url) == [list(range(6)), list(range(6))]
    assert fan_gauge.peak == 1
    assert all_gauge.peak == 2
    # The quick tasks did not wait for the fan-out to finish.
    assert max(ends[f"quick{i}"] for i in range(6)) < ends["slow5"]


def test_a_retry_wait_does_not_hold_the_group_permit(db_url: str) -> None:
    order: list[str] = []
    lock = threading.Lock()

    @task(retries=1, retry_backoff=0.3)
    def flaky(i: int) -> int:
        with lock:
            first = f"{i}" not in order
            order.append(f"{i}")
        if i == 0 and first:
            raise ConnectionError("once")
        return i

    @flow
    def one_at_a_time() -> Any:
        return fan_out(flaky, produce(4), max_concurrency=1)

    assert one_at_a_time.run(db=db_url) == [0, 1, 2, 3]
    # Items 1-3 ran while item 0 waited for its retry.
    assert order == ["0", "1", "2", "3", "0"]


def test_dynamic_fan_out_over_an_empty_list_gives_an_empty_list(db_url: str) -> None:
    @flow
    def nothing() -> Any:
        values = fan_out(scrambled, produce(0), max_concurrency=2)
        return {"values": values, "sum": total(values)}

    assert nothing.run(db=db_url) == {"values": [], "sum": 0}


def test_fan_out_over_a_fan_out(db_url: str) -> None:
    @task
    def pair(i: int) -> list[int]:
        return [i, i]

    @task
    def count(items: list[int]) -> int:
        return len(items)

    @flow
    def nested() -> Any:
        return fan_out(count, fan_out(pair, produce(3)))

    assert nested.run(db=db_url) == [2, 2, 2]


def test_non_iterable_upstream_fails_the_fan_out_naming_it(db_url: str) -> None:
    @task
    def number() -> Any:  # typed Any: the point is a wrong value at run time
        return 7

    @flow
    def bad() -> Any:
        return fan_out(scrambled, number())

    with pytest.raises(
        TaskExecutionError, match=r"fan_out\('scrambled'\) over number#0: .* int"
    ) as info:
        bad.run(db=db_url)
    assert isinstance(info.value.__cause__, TypeError)


@task
def picky(i: int) -> int:
    if i == 2:
        raise ValueError(f"item {i} is bad")
    return i


@flow
def with_a_bad_item() -> Any:
    values = fan_out(picky, produce(4), max_concurrency=2)
    return {"values": values, "sum": total(values)}


def test_failed_call_under_fail_fast_raises_its_error(db_url: str) -> None:
    with pytest.raises(TaskExecutionError, match="item 2 is bad"):
        with_a_bad_item.run(db=db_url)


def test_failed_call_under_continue_gives_none_in_its_place(db_url: str) -> None:
    result = with_a_bad_item.run(failure_policy="continue", db=db_url)
    # The collector's dependents are skipped, like a static fan-out's would be.
    assert result == {"values": [0, 1, None, 3], "sum": None}


def test_failed_call_under_aggregate_names_it(db_url: str) -> None:
    with pytest.raises(AggregateTaskError) as info:
        with_a_bad_item.run(failure_policy="aggregate", db=db_url)
    assert list(info.value.errors) == ["picky#0[2]"]
    assert isinstance(info.value.errors["picky#0[2]"].original, ValueError)


def test_calls_of_a_dynamic_fan_out_are_journal_rows(db_url: str) -> None:
    @flow
    def recorded() -> Any:
        return total(fan_out(scrambled, produce(3)))

    assert recorded.run(db=db_url) == 5
    journal = open_journal(db_url)
    try:
        run = journal.list_runs(limit=1)[0]
        rows = journal.get_tasks(run.run_id)
        assert [r.task_key for r in rows] == [
            "produce#0",
            "scrambled#0",
            "total#0",
            "scrambled#0[0]",
            "scrambled#0[1]",
            "scrambled#0[2]",
        ]
        assert {r.status for r in rows} == {TaskStatus.COMPLETED}
        by_key = {r.task_key: r for r in rows}
        assert json.loads(by_key["scrambled#0[2]"].output_json or "") == 4
        assert json.loads(by_key["scrambled#0"].output_json or "") == [0, 1, 4]
        added = [e for e in journal.get_events(run.run_id) if e.kind == "nodes_added"]
        assert [(e.task_key, json.loads(e.data_json or "")) for e in added] == [
            ("scrambled#0", {"after": "produce#0", "nodes": 3})
        ]
    finally:
        journal.close()


CRASH_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    import taskloom
    from taskloom import fan_out, flow, task

    SIDE = sys.argv[2]

    def note(text):
        with open(SIDE, "a") as f:
            f.write(text + "\\n")
            f.flush()
            os.fsync(f.fileno())

    @task
    def produce(n):
        note("produce")
        return list(range(n))

    @task
    def work(i):
        note(f"work{i}")
        if os.environ.get("SLOW") == "1" and i == 3:
            time.sleep(60)
        return i * 10

    @task
    def total(values):
        note("total")
        return sum(values)

    @flow(name="crashy_fan_out")
    def crashy(n):
        return total(fan_out(work, produce(n), max_concurrency=2))

    if sys.argv[1] == "run":
        print(json.dumps(crashy.run(6, db=sys.argv[3])))
    else:
        print(json.dumps(taskloom.resume(sys.argv[4], db=sys.argv[3], timeout=20)))
    """
)


@pytest.mark.timeout(90)
def test_sigkill_during_a_dynamic_fan_out_then_resume(tmp_path: Path) -> None:
    script = tmp_path / "crashy.py"
    script.write_text(CRASH_SCRIPT)
    side = tmp_path / "side.txt"
    db = f"sqlite:///{tmp_path / 'flow.db'}"
    env = {**os.environ, "SLOW": "1"}
    # Item 3 hangs and holds one of the two permits; 4 and 5 go through the
    # other. Killed once work5 is done and committed.
    kill_when_reached(
        [str(script), "run", str(side), db],
        side,
        "work5",
        env=env,
        cwd=tmp_path,
        timeout=30,
        settle=0.5,
    )

    journal = open_journal(db)
    run = journal.list_runs(limit=1)[0]
    assert (run.kind, run.status) == ("flow", "Running")
    statuses = {t.task_key: t.status for t in journal.get_tasks(run.run_id)}
    journal.close()
    assert statuses["produce#0"] == "Completed"
    assert statuses["work#0[3]"] == "Running"
    done_before = {k for k, s in statuses.items() if k.startswith("work#0[") and s == "Completed"}
    assert done_before == {f"work#0[{i}]" for i in (0, 1, 2, 4, 5)}

    env.pop("SLOW")
    last = run_to_end(
        [str(script), "resume", str(side), db, run.run_id], env=env, cwd=tmp_path, timeout=60
    )
    assert json.loads(last) == 150
    notes = side.read_text().split()
    # Completed calls and the upstream ran once; the call in flight ran again.
    assert sorted(notes) == sorted(
        ["produce", "work0", "work1", "work2", "work3", "work3", "work4", "work5", "total"]
    )

    journal = open_journal(db)
    final = journal.get_run(run.run_id)
    journal.close()
    assert final is not None and final.status == "Completed"
