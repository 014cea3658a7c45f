"""Replay after a crash: completed operations are not re-run, attempts resume, errors re-raise.

A crash is simulated in-process by stopping the engine without waiting
(the run stays recorded as running) and letting a new engine's recovery
resume it; ``test_steps_sigkill.py`` does the same with a real SIGKILL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from taskloom import RetryPolicy, task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.journal import open_journal
from taskloom.steps import (
    Client,
    Context,
    Directive,
    NonDeterminismError,
    StepFailed,
    Workflow,
)


def crash_engines() -> None:
    """Stop every default engine without waiting: runs in flight stay recorded as running.

    The next ``Client(db)`` gets a new engine whose recovery resumes them -- the
    in-process stand-in for a process that died (test_steps_sigkill does it for real).
    """
    shutdown_engines(wait=False)


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    crash_engines()


def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def _recorded_ops(db_url: str, run_id: str) -> int:
    """Operations and recorded values of a run whose completion is in the journal."""
    journal = open_journal(db_url)
    try:
        return sum(
            1 for t in journal.get_tasks(run_id) if "#" in t.task_key and t.status == "Completed"
        )
    finally:
        journal.close()


@dataclass
class Receipt:
    txn_id: str
    amount: float


def test_completed_operations_replay_with_their_recorded_type(db_url: str) -> None:
    calls: list[str] = []
    hang = {"on": True}
    wf = Workflow(workflow_type="ReplayTyped")

    @task
    async def charge(amount: float) -> Receipt:
        calls.append("charge")
        return Receipt("t1", amount)

    @task
    async def confirm(receipt_id: str) -> str:
        calls.append("confirm")
        if hang["on"]:
            await asyncio.sleep(3600)
        return "sent"

    @wf.start()
    async def start(ctx: Context, amount: float) -> Directive:
        receipt = await charge(amount)
        assert isinstance(receipt, Receipt)
        status = await confirm(receipt.txn_id)
        return ctx.next.complete({"txn": receipt.txn_id, "status": status})

    Client(db_url).start_workflow(wf, "rt-1", {"amount": 2.0})
    _wait_for(lambda: "confirm" in calls)
    crash_engines()
    hang["on"] = False
    assert Client(db_url).get_handle("rt-1").result(timeout=10) == {"txn": "t1", "status": "sent"}
    assert calls == ["charge", "confirm", "confirm"]  # charge replayed, confirm was in flight


def test_attempt_count_resumes_after_a_crash_mid_retry(db_url: str) -> None:
    attempts: list[int] = []
    hang = {"on": True}
    wf = Workflow(workflow_type="RetryResume")

    @task(retry_policy=RetryPolicy(max_attempts=4, initial_delay_ms=1))
    async def flaky() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= 2:
            raise ConnectionError("down")
        if hang["on"]:
            await asyncio.sleep(3600)
        return "up"

    @wf.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.complete(await flaky())

    Client(db_url).start_workflow(wf, "rr-1")
    _wait_for(lambda: len(attempts) == 3)
    crash_engines()
    hang["on"] = False
    assert Client(db_url).get_handle("rr-1").result(timeout=10) == "up"
    journal = open_journal(db_url)
    ops = [t for t in journal.get_tasks("rr-1") if t.task_key.endswith(":flaky")]
    journal.close()
    # two recorded failures, the interrupted third attempt does not count, the rerun is attempt 3
    assert [(t.status, t.attempt) for t in ops] == [("Completed", 3)]


def test_terminal_failure_is_re_raised_on_replay_without_calling_again(db_url: str) -> None:
    calls: list[str] = []
    hang = {"on": True}
    wf = Workflow(workflow_type="TerminalReplay")

    @task
    async def doomed() -> None:
        calls.append("doomed")
        raise PermissionError("denied")

    @task
    async def after() -> None:
        calls.append("after")
        if hang["on"]:
            await asyncio.sleep(3600)

    @wf.start()
    async def start(ctx: Context) -> Directive:
        try:
            await doomed()
        except PermissionError as exc:
            await after()
            return ctx.next.complete(f"caught {type(exc).__name__}: {exc}")
        return ctx.next.complete("no error")

    Client(db_url).start_workflow(wf, "tr-1")
    _wait_for(lambda: "after" in calls)
    crash_engines()
    hang["on"] = False
    assert Client(db_url).get_handle("tr-1").result(timeout=10) == "caught PermissionError: denied"
    assert calls == ["doomed", "after", "after"]


def test_gather_replays_only_what_did_not_complete(db_url: str) -> None:
    calls: list[str] = []
    hang = {"on": True}
    wf = Workflow(workflow_type="GatherReplay")

    @task
    async def quick(n: int) -> int:
        calls.append(f"quick{n}")
        return n * 10

    @task
    async def slow() -> int:
        calls.append("slow")
        if hang["on"]:
            await asyncio.sleep(3600)
        return 1

    @wf.start()
    async def start(ctx: Context) -> Directive:
        values = await asyncio.gather(quick(1), slow(), quick(2))
        return ctx.next.complete(values)

    Client(db_url).start_workflow(wf, "g-1")
    _wait_for(lambda: len(calls) == 3)
    _wait_for(lambda: _recorded_ops(db_url, "g-1") == 2)  # both quick completions committed
    crash_engines()
    hang["on"] = False
    assert Client(db_url).get_handle("g-1").result(timeout=10) == [10, 1, 20]
    assert sorted(calls) == ["quick1", "quick2", "slow", "slow"]


def test_a_different_call_order_on_replay_is_a_non_determinism_error(db_url: str) -> None:
    hang = {"on": True}
    order = {"first": "a"}
    wf = Workflow(workflow_type="NonDet")

    @task
    async def a() -> str:
        return "a"

    @task
    async def b() -> str:
        return "b"

    @task
    async def block() -> None:
        if hang["on"]:
            await asyncio.sleep(3600)

    @wf.start()
    async def start(ctx: Context) -> Directive:
        await (a() if order["first"] == "a" else b())
        await block()
        return ctx.next.complete("ok")

    Client(db_url).start_workflow(wf, "nd-1")
    _wait_for(lambda: _recorded_ops(db_url, "nd-1") == 1)  # a() is recorded, block() runs
    crash_engines()
    hang["on"], order["first"] = False, "b"
    handle = Client(db_url).get_handle("nd-1")
    with pytest.raises(StepFailed) as info:
        handle.result(timeout=10)
    assert info.value.details.type == NonDeterminismError.__name__
    assert "call #0 was 'a' when recorded but is now 'b'" in info.value.details.message


def test_store_writes_are_recorded_with_the_directive_or_not_at_all(db_url: str) -> None:
    hang = {"on": True}
    runs: list[str] = []
    wf = Workflow(workflow_type="StoreAtomic")

    @task
    async def block() -> None:
        if hang["on"]:
            await asyncio.sleep(3600)

    @wf.start()
    async def start(ctx: Context) -> Directive:
        ctx.store.put("count", 1)
        return ctx.next.step(second)

    @wf.step()
    async def second(ctx: Context) -> Directive:
        runs.append("second")
        count = await ctx.store.get("count")
        ctx.store.put("count", count + 1)  # not recorded until the step returns
        await block()
        return ctx.next.step(third)

    @wf.step()
    async def third(ctx: Context) -> Directive:
        with pytest.raises(KeyError, match="'missing'"):
            await ctx.store.get("missing")
        return ctx.next.complete(await ctx.store.get("count"))

    Client(db_url).start_workflow(wf, "st-1")
    _wait_for(lambda: runs == ["second"])
    crash_engines()
    hang["on"] = False
    # the interrupted step's put was discarded: it ran again from count=1, not 2
    assert Client(db_url).get_handle("st-1").result(timeout=10) == 2
    assert runs == ["second", "second"]


def test_recorded_now_random_uuid_replay(db_url: str) -> None:
    hang = {"on": True}
    seen: list[tuple[str, float, str]] = []
    wf = Workflow(workflow_type="RecordedValues")

    @task
    async def block() -> None:
        if hang["on"]:
            await asyncio.sleep(3600)

    @wf.start()
    async def start(ctx: Context) -> Directive:
        now = await ctx.now()
        seen.append((now.isoformat(), ctx.random(), str(ctx.uuid4())))
        await block()
        return ctx.next.complete(list(seen[-1]))

    Client(db_url).start_workflow(wf, "rv-1")
    _wait_for(lambda: len(seen) == 1)
    _wait_for(lambda: _recorded_ops(db_url, "rv-1") == 3)  # now, random, uuid4 recorded
    crash_engines()
    hang["on"] = False
    assert Client(db_url).get_handle("rv-1").result(timeout=10) == list(seen[0])
    assert seen[0] == seen[1]
