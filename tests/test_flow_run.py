"""Running flows: retries, timeouts, priority, failure policies, journal, cache, errors."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from taskloom import AggregateTaskError, TaskTimeoutError, fan_out, flow, task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.dataflow.result_cache import cache
from taskloom.dataflow.result_caches import get_result_cache
from taskloom.errors import TaskExecutionError
from taskloom.journal import TaskStatus, open_journal


@pytest.fixture(autouse=True)
def _engines() -> Iterator[None]:
    cache.clear()
    get_result_cache().clear()
    yield
    shutdown_engines()


def test_retries_follow_the_backoff_sequence(db_url: str) -> None:
    stamps: list[float] = []

    @task(retries=2, retry_backoff=0.1)
    def flaky() -> str:
        stamps.append(time.monotonic())
        if len(stamps) < 3:
            raise ConnectionError("not yet")
        return "ok"

    @flow
    def once() -> Any:
        return flaky()

    assert once.run(db=db_url) == "ok"
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert 0.09 <= gaps[0] < 0.6
    assert 0.19 <= gaps[1] < 0.9


def test_immediate_call_retries_with_backoff_then_raises_the_original_error() -> None:
    stamps: list[float] = []

    @task(retries=2, retry_backoff=0.05)
    def always_fails() -> None:
        stamps.append(time.monotonic())
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        always_fails()
    assert len(stamps) == 3
    assert stamps[1] - stamps[0] >= 0.045 and stamps[2] - stamps[1] >= 0.095


def test_timeout_fails_a_sync_and_an_async_task(db_url: str) -> None:
    @task(timeout=0.2)
    def slow_sync() -> None:
        time.sleep(1.5)

    @task(timeout=0.2)
    async def slow_async() -> None:
        await asyncio.sleep(5)

    @flow
    def f_sync() -> Any:
        return slow_sync()

    @flow
    def f_async() -> Any:
        return slow_async()

    start = time.monotonic()
    with pytest.raises(TaskTimeoutError, match="slow_sync#0"):
        f_sync.run(db=db_url)
    with pytest.raises(TaskTimeoutError, match="slow_async#0"):
        f_async.run(db=db_url)
    assert time.monotonic() - start < 1.4
    with pytest.raises(TaskTimeoutError, match="slow_sync"):
        slow_sync()


def test_a_timed_out_attempt_is_retried(db_url: str) -> None:
    calls: list[int] = []

    @task(timeout=0.2, retries=1)
    async def sometimes_slow() -> str:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(5)
        return "second try"

    @flow
    def f() -> Any:
        return sometimes_slow()

    assert f.run(db=db_url) == "second try"
    assert len(calls) == 2


def test_priority_orders_ready_tasks_with_one_slot(db_url: str) -> None:
    order: list[str] = []

    @task
    def root() -> int:
        return 0

    def make(name: str, priority: int) -> Any:
        @task(name=name, priority=priority)
        def step(_: int) -> None:
            order.append(name)

        return step

    low, high, mid = make("low", 1), make("high", 9), make("mid", 5)

    @flow
    def prioritized() -> Any:
        r = root()
        return [low(r), high(r), mid(r)]

    prioritized.run(max_concurrency=1, db=db_url)
    assert order == ["high", "mid", "low"]

    order.clear()

    @flow
    def roots_only() -> Any:
        return [low(0), high(0), mid(0)]

    roots_only.run(max_concurrency=1, db=db_url)
    assert order == ["high", "mid", "low"]


def test_max_concurrency_limits_parallel_tasks(db_url: str) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    @task
    def busy(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return i

    @flow
    def many() -> Any:
        return fan_out(busy, range(8))

    assert many.run(max_concurrency=2, db=db_url) == list(range(8))
    assert peak == 2


@task
def explode(message: str) -> None:
    raise ValueError(message)


@task
def lookup(key: str) -> None:
    raise KeyError(key)


@task
def value(x: Any) -> Any:
    return x


def test_fail_fast_cancels_pending_work_and_raises_the_original_exception(db_url: str) -> None:
    ran: list[str] = []

    @task
    async def slow() -> str:
        await asyncio.sleep(3)
        ran.append("slow")
        return "slow"

    @task
    def after_slow(x: str) -> None:
        ran.append("after")

    @flow
    def doomed() -> Any:
        return [explode("bad input"), after_slow(slow())]

    start = time.monotonic()
    with pytest.raises(TaskExecutionError, match="bad input") as info:
        doomed.run(db=db_url)
    assert isinstance(info.value.__cause__, ValueError) and info.value.task_name == "explode"
    assert time.monotonic() - start < 2.0
    assert ran == []
    journal = open_journal(db_url)
    run = journal.list_runs(limit=1)[0]
    statuses = {t.task_key: t.status for t in journal.get_tasks(run.run_id)}
    assert statuses == {
        "explode#0": TaskStatus.FAILED,
        "slow#0": TaskStatus.CANCELLED,
        "after_slow#0": TaskStatus.CANCELLED,
    }
    journal.close()


def test_continue_skips_dependents_and_returns_none_for_them(db_url: str) -> None:
    @flow
    def partial() -> Any:
        bad = explode("no")
        return {"bad": bad, "child": value(bad), "fine": value(3)}

    result = partial.run(failure_policy="continue", db=db_url)
    # The failed call's place holds its error (auto_workflow's CONTINUE), a skipped one None.
    assert isinstance(result["bad"], TaskExecutionError) and result["bad"].node == "explode#0"
    assert result == {"bad": result["bad"], "child": None, "fine": 3}


def test_aggregate_raises_one_error_with_every_failure(db_url: str) -> None:
    @flow
    def several() -> Any:
        return [explode("first"), lookup("second"), value(1)]

    with pytest.raises(AggregateTaskError) as info:
        several.run(failure_policy="aggregate", db=db_url)
    errors = info.value.errors
    assert set(errors) == {"explode#0", "lookup#0"}
    assert isinstance(errors["explode#0"].original, ValueError)
    assert isinstance(errors["lookup#0"].__cause__, KeyError)


def test_flow_run_is_recorded_in_the_journal_with_per_node_rows(db_url: str) -> None:
    @flow(name="recorded")
    def recorded(x: int) -> Any:
        return value(value(x))

    assert recorded.run(41, db=db_url) == 41
    journal = open_journal(db_url)
    run = journal.list_runs(limit=1)[0]
    assert (run.kind, run.workflow_name, run.status) == ("flow", "recorded", "Completed")
    assert run.final_json == "41"
    rows = {t.task_key: (t.status, t.output_json) for t in journal.get_tasks(run.run_id)}
    assert rows == {"value#0": ("Completed", "41"), "value#1": ("Completed", "41")}
    journal.close()


def test_non_json_results_are_tagged_and_unrecordable_ones_fail_naming_the_task(
    db_url: str,
) -> None:
    @task
    def make_set() -> set[int]:
        return {1, 2}

    @task
    def make_lock() -> Any:
        return threading.Lock()

    @flow
    def sets() -> Any:
        return make_set()

    @flow
    def locks() -> Any:
        return make_lock()

    assert sets.run(db=db_url) == {1, 2}
    with pytest.raises(Exception, match=r"make_lock#0.*_thread.lock.*register_type.*'pickle'"):
        locks.run(db=db_url)


def test_cache_ttl_skips_the_body_on_a_hit(db_url: str) -> None:
    calls: list[int] = []

    @task(cache_ttl=60)
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 2

    assert expensive(2) == 4 and expensive(2) == 4
    assert calls == [2]

    @flow
    def cached() -> Any:
        first = expensive(3)
        return expensive(3, wait_for=[first])

    assert cached.run(db=db_url) == 6
    assert calls == [2, 3]


def test_run_async_does_not_block_the_loop(db_url: str) -> None:
    @flow
    def small() -> Any:
        return value("async")

    async def main() -> Any:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticking = asyncio.create_task(ticker())
        result = await small.run_async(db=db_url)
        ticking.cancel()
        return result, ticks

    result, ticks = asyncio.run(main())
    assert result == "async" and ticks >= 1


@pytest.mark.parametrize(
    ("options", "error", "pattern"),
    [
        ({"retries": 1, "retry_attempts": 2}, ValueError, "mixes retry styles"),
        ({"run_in": "gpu"}, ValueError, "task 'job': run_in='gpu'"),
        ({"cache_ttl": 5, "cache_key_fn": "key"}, TypeError, "task 'job': cache_key_fn"),
        ({"cache_key_fn": lambda f, a, k: "x"}, ValueError, "task 'job'.*cache_ttl"),
        ({"persist": "yes"}, TypeError, "task 'job': persist"),
        ({"cache_ttl": -1}, ValueError, "task 'job': cache_ttl"),
    ],
)
def test_bad_task_options_fail_at_decoration(
    options: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):

        @task(**options)
        def job() -> None: ...


def test_bad_run_options_fail_naming_the_flow(db_url: str) -> None:
    @flow
    def ok() -> Any:
        return value(1)

    with pytest.raises(ValueError, match="flow 'ok': failure_policy='sometimes'"):
        ok.run(failure_policy="sometimes", db=db_url)
    with pytest.raises(ValueError, match="flow 'ok': max_concurrency=0"):
        ok.run(max_concurrency=0, db=db_url)

    @flow
    def empty() -> Any:
        return 1

    assert empty.run(db=db_url) == 1  # no task called: the body's value, no run

    async def body() -> None: ...

    with pytest.raises(TypeError, match="plain def"):
        flow(body)


def test_params_are_keyword_arguments_of_the_body(db_url: str) -> None:
    @flow
    def scaled(x: int, factor: int = 1) -> Any:
        return value(x * factor)

    assert scaled.run(2, params={"factor": 5}, db=db_url) == 10
