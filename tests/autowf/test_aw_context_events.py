"""get_context() inside tasks, and auto_workflow's event bus (subscribe by name, emit)."""

import asyncio

import pytest

import taskloom
from taskloom import flow, get_context, subscribe, task
from taskloom.compat.auto_workflow.events import emit


@task
def whoami(x):
    ctx = get_context()
    return {
        "run_id": ctx.run_id,
        "flow": ctx.flow_name,
        "task": ctx.task_name,
        "node": ctx.node,
        "attempt": ctx.attempt,
        "params": ctx.params,
        "started": ctx.start_time > 0,
    }


@task
async def whoami_async(x):
    await asyncio.sleep(0)
    ctx = get_context()
    return [ctx.task_name, ctx.attempt]


attempts = []


@task(retries=2, retry_backoff=0.0)
def third_time_lucky():
    attempts.append(get_context().attempt)
    if len(attempts) < 3:
        raise RuntimeError("not yet")
    return "ok"


@flow
def ctx_flow(n):
    return [whoami(n), whoami_async(n)]


@flow
def retry_flow():
    return third_time_lucky()


def test_get_context_inside_sync_and_async_tasks():
    sync_part, async_part = ctx_flow.run(n=3)
    assert sync_part["flow"] == "ctx_flow" and sync_part["task"] == "whoami"
    assert sync_part["node"] == "whoami#0" and sync_part["attempt"] == 1
    assert sync_part["params"] == {"n": 3} and sync_part["started"]
    assert len(sync_part["run_id"]) == 32
    assert async_part == ["whoami_async", 1]


def test_attempt_counts_retries():
    attempts.clear()
    assert retry_flow.run() == "ok"
    assert attempts == [1, 2, 3]


def test_get_context_without_active_run_raises():
    with pytest.raises(RuntimeError, match="outside a running task"):
        get_context()


def test_event_bus_subscribe_and_emit():
    out = {}

    def cb(payload):
        out.update(payload)

    subscribe("hello", cb)
    emit("hello", {"a": 1})
    assert out == {"a": 1}


@task
def one():
    return 1


@task
def broken(x):
    raise ValueError("no")


@flow
def evented():
    return broken(one())


def test_lifecycle_events_arrive_by_name_before_run_returns():
    seen = []
    for name in (
        "flow_started",
        "task_started",
        "task_succeeded",
        "task_failed",
        "flow_completed",
    ):
        subscribe(name, lambda p, name=name: seen.append((name, p)))
    with pytest.raises(taskloom.TaskExecutionError):
        evented.run()
    names = [n for n, _ in seen]
    assert names[0] == "flow_started" and names[-1] == "flow_completed"
    payloads = dict(seen)
    run_id = payloads["flow_started"]["run_id"]
    assert payloads["flow_started"] == {"flow": "evented", "run_id": run_id}
    started = [p for n, p in seen if n == "task_started"]
    assert [(p["task"], p["node"]) for p in started] == [("one", "one#0"), ("broken", "broken#0")]
    assert payloads["task_succeeded"]["duration_ms"] >= 0
    assert payloads["task_failed"]["node"] == "broken#0"
    assert "ValueError: no" in payloads["task_failed"]["error"]
    assert payloads["flow_completed"]["tasks"] == 2
    assert payloads["flow_completed"]["status"] == "Failed"


def test_task_retry_event_carries_attempt_and_max():
    retries = []
    subscribe("task_retry", retries.append)
    attempts.clear()
    retry_flow.run()
    assert [(p["task"], p["attempt"], p["max"]) for p in retries] == [
        ("third_time_lucky", 1, 2),
        ("third_time_lucky", 2, 2),
    ]


def test_unsubscribe_and_the_one_argument_form():
    got = []
    stop = subscribe("flow_started", got.append)
    objects = []
    stop_objects = subscribe(objects.append)  # taskloom's own form: LifecycleEvent objects
    evented.run(failure_policy="continue")
    taskloom.flush_events()
    stop()
    stop_objects()
    evented.run(failure_policy="continue")
    taskloom.flush_events()
    assert len(got) == 1
    assert {e.kind for e in objects} >= {"run_started", "task_failed", "run_finished"}
    assert len([e for e in objects if e.kind == "run_started"]) == 1


def test_a_slow_plain_subscriber_does_not_hold_up_runs_with_named_hooks():
    import threading
    import time

    release = threading.Event()
    stop_slow = taskloom.subscribe(lambda event: release.wait(5))
    seen = []
    subscribe("task_succeeded", seen.append)
    try:
        start = time.perf_counter()
        assert ctx_flow.run(n=1)[1] == ["whoami_async", 1]
        assert time.perf_counter() - start < 2.0
        assert len(seen) == 2  # the named callbacks were waited for; the slow one was not
    finally:
        release.set()
        stop_slow()


@task
def report_date():
    return get_context().params["date"]


@flow
def dated():  # auto_workflow's params reach tasks through the context, not the body
    return report_date()


@flow
def dated_with_arg(date, **rest):
    return [report_date(), date, sorted(rest)]


def test_params_the_body_does_not_take_reach_get_context_only():
    assert dated.run(params={"date": "2024-01-02"}) == "2024-01-02"
    assert dated_with_arg.run(params={"date": "d", "extra": 1}) == ["d", "d", ["extra"]]
    described = dated.describe()
    assert described["count"] == 1
