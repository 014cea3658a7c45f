"""Waiting without a slot: ``ctx.next.wait`` + ``@wf.event`` + ``send``, and ``ctx.sleep``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from taskloom import task
from taskloom.core.engine import Engine
from taskloom.core.shared_engines import shutdown_engines
from taskloom.journal import open_journal
from taskloom.journal.records import TaskStatus
from taskloom.steps import Client, Context, Directive, Workflow, WorkflowFailed
from taskloom.steps.journal import DRIVER_KEY


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    shutdown_engines(wait=False)


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def _suspended(client: Client, workflow_id: str) -> Callable[[], bool]:
    journal = client._engine.journal

    def check() -> bool:
        rows = {t.task_key: t for t in journal.get_tasks(workflow_id)}
        row = rows.get(DRIVER_KEY)
        return row is not None and row.status == TaskStatus.SUSPENDED

    return check


def approval_workflow(name: str) -> Workflow:
    wf = Workflow(workflow_type=name)

    @wf.start()
    async def start(ctx: Context, order: str) -> Directive:
        ctx.store.put("order", order)
        return ctx.next.wait(timeout=timedelta(seconds=30), on_timeout=expired)

    @wf.event("approve")
    async def approve(ctx: Context, by: str) -> Directive:
        return ctx.next.complete({"order": await ctx.store.get("order"), "by": by})

    @wf.step()
    async def expired(ctx: Context) -> Directive:
        return ctx.next.complete("expired")

    return wf


def test_event_sent_during_the_wait_runs_its_handler(db_url: str) -> None:
    approval_workflow("Approve1")
    client = Client(db_url)
    handle = client.start_workflow("Approve1", "a-1", {"order": "o-7"})
    _wait_for(_suspended(client, "a-1"))
    started = time.monotonic()
    handle.send("approve", {"by": "ann"})
    assert handle.result(timeout=10) == {"order": "o-7", "by": "ann"}
    assert time.monotonic() - started < 0.5, "an in-process send must wake the run at once"
    kinds = [e["kind"] for e in handle.history()]
    assert "event_received" in kinds
    assert handle.describe().steps == ["start", "approve"]


def test_event_sent_before_the_wait_is_kept_until_the_run_waits(db_url: str) -> None:
    gate = threading.Event()
    wf = Workflow(workflow_type="Early")

    @task
    def slow() -> int:
        gate.wait(10)
        return 1

    @wf.start()
    async def start(ctx: Context) -> Directive:
        await slow()  # type: ignore[misc]  # a sync task is awaitable in a step
        return ctx.next.wait()

    @wf.event("go")
    async def go(ctx: Context, payload: list[int]) -> Directive:
        return ctx.next.complete(sum(payload))

    client = Client(db_url)
    handle = client.start_workflow(wf, "early-1")
    client.send("early-1", "go", [1, 2, 3])  # the start step is still running
    gate.set()
    assert handle.result(timeout=10) == 6


def test_events_are_consumed_in_order_one_per_wait(db_url: str) -> None:
    wf = Workflow(workflow_type="Counter")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        ctx.store.put("seen", [])
        return ctx.next.wait()

    @wf.event("add")
    async def add(ctx: Context, n: int) -> Directive:
        seen = [*await ctx.store.get("seen"), n]
        ctx.store.put("seen", seen)
        if len(seen) == 3:
            return ctx.next.complete(seen)
        return ctx.next.wait()

    client = Client(db_url)
    handle = client.start_workflow(wf, "c-1")
    for n in (5, 6, 7):
        handle.send("add", n)
    assert handle.result(timeout=10) == [5, 6, 7]


def test_wait_timeout_runs_on_timeout(db_url: str) -> None:
    wf = Workflow(workflow_type="Timeout")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.wait(timeout=0.2, on_timeout=late)

    @wf.event("ping")
    async def ping(ctx: Context) -> Directive:
        return ctx.next.complete("ping")

    @wf.step()
    async def late(ctx: Context) -> Directive:
        return ctx.next.complete("timed out")

    started = time.monotonic()
    assert Client(db_url).run_workflow(wf, "t-1", timeout=10) == "timed out"
    assert time.monotonic() - started >= 0.2


def test_wait_timeout_without_handler_fails_the_workflow(db_url: str) -> None:
    wf = Workflow(workflow_type="TimeoutFail")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.wait(timeout=0.05)

    @wf.event("ping")
    async def ping(ctx: Context) -> Directive:
        return ctx.next.complete("ping")

    with pytest.raises(WorkflowFailed) as info:
        Client(db_url).run_workflow(wf, "tf-1", timeout=10)
    assert info.value.details.type == "WaitTimeout"


def test_a_waiting_run_holds_no_slot(db_url: str) -> None:
    approval_workflow("Approve2")
    quick = Workflow(workflow_type="Quick")

    @quick.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.complete("quick done")

    engine = Engine(open_journal(db_url), max_concurrent_tasks=1)
    try:
        client = Client(engine=engine)
        waiting = client.start_workflow("Approve2", "w-1", {"order": "o-1"})
        _wait_for(_suspended(client, "w-1"))
        assert engine.slots.in_use == 0
        assert client.run_workflow(quick, "q-1", timeout=30) == "quick done"
        waiting.send("approve", {"by": "bob"})
        assert waiting.result(timeout=30) == {"order": "o-1", "by": "bob"}
    finally:
        engine.shutdown()


def test_bad_sends_fail_at_once(db_url: str) -> None:
    approval_workflow("Approve3")
    client = Client(db_url)
    handle = client.start_workflow("Approve3", "b-1", {"order": "o"})
    handle.send("nope")  # no handler: accepted and recorded, as in grctl (passed over)
    with pytest.raises(TypeError, match="payload cannot be recorded"):
        handle.send("approve", {"by": object()})
    handle.send("approve", {"by": "x"})
    handle.result(timeout=10)
    with pytest.raises(Exception, match="already finished"):
        handle.send("approve", {"by": "y"})


def test_event_from_another_process_wakes_the_run(db_url: str) -> None:
    approval_workflow("Approve4")
    client = Client(db_url)
    handle = client.start_workflow("Approve4", "x-1", {"order": "o-2"})
    _wait_for(_suspended(client, "x-1"))
    sender = textwrap.dedent(
        f"""
        from taskloom.steps import Client
        Client({db_url!r}).send("x-1", "approve", {{"by": "other process"}})
        """
    )
    subprocess.run([sys.executable, "-c", sender], check=True, timeout=30)
    sent = time.monotonic()
    assert handle.result(timeout=10) == {"order": "o-2", "by": "other process"}
    # The owner re-checks the inbox on its maintenance tick (recovery_interval, 1 s).
    assert time.monotonic() - sent < 2.0


def test_sleep_suspends_and_continues(db_url: str) -> None:
    calls: list[str] = []
    wf = Workflow(workflow_type="Sleeper")

    @task
    async def before() -> str:
        calls.append("before")
        return "b"

    @task
    async def after() -> str:
        calls.append("after")
        return "a"

    @wf.start()
    async def start(ctx: Context) -> Directive:
        first = await before()
        await ctx.sleep(timedelta(milliseconds=300))
        return ctx.next.complete(first + await after())

    client = Client(db_url)
    started = time.monotonic()
    handle = client.start_workflow(wf, "s-1")
    _wait_for(_suspended(client, "s-1"))
    assert client._engine.slots.in_use == 0
    assert handle.result(timeout=10) == "ba"
    assert time.monotonic() - started >= 0.3
    assert calls == ["before", "after"], "the re-executed step replays 'before'"


def test_sleep_rejects_bad_durations(db_url: str) -> None:
    wf = Workflow(workflow_type="BadSleep")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        await ctx.sleep(-1)
        return ctx.next.complete(None)

    with pytest.raises(WorkflowFailed, match="not a finite duration"):
        Client(db_url).run_workflow(wf, "bs-1", timeout=10)


def test_a_waiting_run_is_resumed_by_the_next_engine(db_url: str) -> None:
    approval_workflow("Approve5")
    client = Client(db_url)
    client.start_workflow("Approve5", "r-1", {"order": "o-9"})
    _wait_for(_suspended(client, "r-1"))
    shutdown_engines(wait=False)  # the owner goes away while the run waits
    again = Client(db_url)  # its recovery re-runs the driver, which waits again
    handle = again.get_handle("r-1")
    _wait_for(lambda: "r-1" in again._engine.active and _suspended(again, "r-1")())
    handle.send("approve", {"by": "after restart"})
    assert handle.result(timeout=10) == {"order": "o-9", "by": "after restart"}
    assert handle.describe().steps == ["start", "approve"]
