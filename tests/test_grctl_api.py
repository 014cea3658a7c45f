"""grctl's API on taskloom: context, store, definitions, errors, history, clients, workers."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from taskloom import RunNotFoundError, WorkflowValidationError, task
from taskloom.steps import (
    AsyncClient,
    ChildHandle,
    Client,
    Context,
    Directive,
    HistoryKind,
    NextDirectiveMissingError,
    RunStatus,
    StepFailed,
    StoreKeyNotFoundError,
    Worker,
    Workflow,
    WorkflowAlreadyRunningError,
    WorkflowError,
    WorkflowFailed,
    WorkflowNotFoundError,
    WorkflowTypeNotRegisteredError,
    durable,
)


@dataclass
class Point:
    x: int
    y: int


class Money(BaseModel):
    amount: float
    currency: str


def test_ctx_values_are_awaitable_recorded_and_replayed(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    wf = Workflow(workflow_type="Values1")
    seen: list[tuple[float, uuid.UUID, datetime, float, uuid.UUID]] = []

    @wf.start()
    async def start(ctx: Context) -> Directive:
        value, ident, now = await ctx.random(), await ctx.uuid4(), await ctx.now()
        plain_value, plain_ident = ctx.random(), ctx.uuid4()  # the older, non-awaited spelling
        seen.append((value, ident, now, plain_value, plain_ident))
        ctx.logger.info("values drawn")
        await ctx.sleep(0.05)  # wake-up re-executes the step: every value replays
        ctx.logger.info("after the sleep")
        return ctx.next.complete(str(ident))

    with caplog.at_level(logging.INFO, logger="taskloom.workflow.Values1"):
        result = Client(db_url).run_workflow(wf, "v-1", timeout=10)
    assert len(seen) == 2 and seen[0] == seen[1]
    value, ident, now, plain_value, plain_ident = seen[0]
    assert type(value) is float and 0 <= value < 1 and isinstance(ident, uuid.UUID)
    assert value != plain_value and ident != plain_ident
    assert now.tzinfo is UTC and result == str(ident)
    messages = [r.getMessage() for r in caplog.records if r.name == "taskloom.workflow.Values1"]
    assert messages == ["values drawn", "after the sleep"]  # silent while replaying


def test_store_get_rebuilds_the_type(db_url: str) -> None:
    wf = Workflow(workflow_type="Store1")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        ctx.store.put("n", 3)
        ctx.store.put("point", Point(1, 2))
        ctx.store.set("money", Money(amount=9.5, currency="EUR"))  # grctl's older name
        return ctx.next.step(read)

    @wf.step()
    async def read(ctx: Context) -> Directive:
        n = await ctx.store.get("n", int)
        as_float = await ctx.store.get("n", float)
        point = await ctx.store.get("point", Point)
        money = await ctx.store.get("money", Money)
        assert isinstance(point, Point) and isinstance(money, Money)
        assert type(as_float) is float
        try:
            await ctx.store.get("missing", str)
        except StoreKeyNotFoundError as exc:
            assert isinstance(exc, KeyError) and exc.key == "missing"
        else:
            raise AssertionError("no error for a missing key")
        with pytest.raises(
            TypeError, match=r"ctx.store.get\('n', str\): the stored value is a int"
        ):
            await ctx.store.get("n", str)
        return ctx.next.complete([n, as_float, point.y, money.currency])

    assert Client(db_url).run_workflow(wf, "s-1", timeout=10) == [3, 3.0, 2, "EUR"]


def test_definitions_take_grctl_spellings_and_timedeltas() -> None:
    wf = Workflow(workflow_type="Defs1")

    @wf.start(timeout=timedelta(seconds=5))
    async def start(ctx: Context) -> Directive:
        return ctx.next.wait()

    @wf.event()
    async def approve(ctx: Context) -> Directive:
        return ctx.next.complete()

    @wf.step(timeout=timedelta(minutes=2))
    async def later(ctx: Context) -> Directive:
        return ctx.next.complete()

    assert wf.events == {"approve": "approve"}
    assert wf.steps["later"].timeout == 120.0 and wf.steps["start"].timeout == 5.0

    @task(timeout=timedelta(seconds=1.5))
    async def quick() -> None:
        return None

    @durable(name="Defs3", timeout=timedelta(minutes=1))
    async def durable_fn() -> int:
        return 1

    assert quick.timeout == 1.5
    assert durable_fn.workflow.steps[durable_fn.workflow.require_start().name].timeout == 60.0

    old = Workflow(workflow_type="Defs2")

    @old.step(start=True)
    async def begin(ctx: Context) -> Directive:
        return ctx.next.wait_for_event(timeout=timedelta(seconds=1), timeout_step_name="late")

    @old.step(event=True, name="custom.event")
    async def handler(ctx: Context) -> Directive:
        return ctx.next.complete()

    @old.step()
    async def late(ctx: Context) -> Directive:
        return ctx.next.complete()

    assert old.start_step is not None and old.start_step.name == "begin"
    assert old.events == {"custom.event": "handler"}
    with pytest.raises(ValueError, match=r"step 'bad' timeout=datetime.timedelta\(0\)"):

        @old.step(timeout=timedelta(0))
        async def bad(ctx: Context) -> Directive:
            return ctx.next.complete()

    with pytest.raises(ValueError, match="already handles event 'approve'"):

        @wf.event(name="approve")
        async def approve_again(ctx: Context) -> Directive:
            return ctx.next.complete()


def test_an_event_without_a_handler_is_accepted_recorded_and_ignored(db_url: str) -> None:
    wf = Workflow(workflow_type="Unhandled1")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.wait()

    @wf.event()
    async def approve(ctx: Context, by: str) -> Directive:
        return ctx.next.complete(by)

    client = Client(db_url)
    handle = client.start_workflow(wf, "u-1")
    handle.send("nobody_handles_this", {"x": 1})
    handle.send("approve", {"by": "ann"})
    assert handle.result(timeout=10) == "ann"
    history = handle.get_history()
    ignored = [e.msg for e in history if e.kind == HistoryKind.event_ignored]
    assert ignored == [{"event_name": "nobody_handles_this", "payload": {"x": 1}}]
    received = [e.msg["event_name"] for e in history if e.kind == HistoryKind.event_received]
    assert received == ["approve"]


def test_history_has_grctl_kinds_in_order(db_url: str) -> None:
    wf = Workflow(workflow_type="Hist1")

    @task
    async def double(x: int) -> int:
        return 2 * x

    @wf.start()
    async def start(ctx: Context, x: int) -> Directive:
        await ctx.now()
        return ctx.next.step(finish, y=await double(x))

    @wf.step()
    async def finish(ctx: Context, y: int) -> Directive:
        return ctx.next.complete(y)

    handle = Client(db_url).start_workflow(wf, "h-1", {"x": 4})
    assert handle.result(timeout=10) == 8
    history = handle.get_history()
    assert [e.kind for e in history] == [
        HistoryKind.run_started,
        HistoryKind.step_started,
        HistoryKind.timestamp_recorded,
        HistoryKind.task_started,
        HistoryKind.task_completed,
        HistoryKind.step_completed,
        HistoryKind.step_started,
        HistoryKind.step_completed,
        HistoryKind.run_completed,
    ]
    assert history[0].msg == {"input": {"x": 4}}
    assert history[4].msg["output"] == {"result": 8} and history[4].msg["task_name"] == "double"
    assert history[4].msg["step_name"] == "start" and history[6].msg == {"step_name": "finish"}
    assert history[-1].msg["result"] == 8 and all(e.wf_id == "h-1" for e in history)


def test_grctl_error_names(db_url: str) -> None:
    wf = Workflow(workflow_type="Errs1")

    @wf.start()
    async def start(ctx: Context) -> Any:
        return "not a directive"

    client = Client(db_url)
    with pytest.raises(WorkflowError) as caught:
        client.run_workflow(wf, "e-1", timeout=10)
    assert isinstance(caught.value, StepFailed)
    assert caught.value.details.type == "NextDirectiveMissingError"
    assert caught.value.details.qualified_type.endswith("errors.NextDirectiveMissingError")
    assert issubclass(NextDirectiveMissingError, TypeError)
    assert issubclass(WorkflowFailed, WorkflowError)
    with pytest.raises(WorkflowAlreadyRunningError, match="already ran"):
        client.start_workflow(wf, "e-1")
    with pytest.raises(WorkflowNotFoundError) as missing:
        client.get_handle("nope")
    assert isinstance(missing.value, RunNotFoundError) and isinstance(missing.value, KeyError)
    with pytest.raises(WorkflowTypeNotRegisteredError, match="'NoSuchType'"):
        client.start_workflow("NoSuchType", "e-2")


def test_start_child_returns_a_handle_with_run_info(db_url: str) -> None:
    child = Workflow(workflow_type="Kid1")
    parent = Workflow(workflow_type="Parent1")

    @child.start()
    async def kid(ctx: Context, n: int) -> Directive:
        await ctx.send_to_parent("kid_done", {"n": n * 10})
        return ctx.next.complete(n)

    @parent.start()
    async def begin(ctx: Context) -> Directive:
        handle = await ctx.start_child(
            "Kid1",
            workflow_id="kid-1",
            workflow_input={"n": 4},
            workflow_timeout=timedelta(minutes=1),
        )
        assert isinstance(handle, ChildHandle) and handle == "kid-1"
        info = handle.run_info
        assert (info.id, info.wf_id, info.wf_type) == ("kid-1", "kid-1", "Kid1")
        assert (info.parent_wf_id, info.parent_wf_type, info.timeout) == ("p-1", "Parent1", 60)
        return ctx.next.wait()

    @parent.event()
    async def kid_done(ctx: Context, n: int) -> Directive:
        return ctx.next.complete({"n": n, "parent_of_me": ctx.run.parent_wf_id})

    client = Client(db_url)
    assert client.run_workflow(parent, "p-1", timeout=10) == {"n": 40, "parent_of_me": None}
    sent = [e for e in client.get_handle("kid-1").get_history() if e.kind == "parent.event_sent"]
    assert [e.msg for e in sent] == [{"event_name": "kid_done", "parent_wf_id": "p-1"}]


def test_send_to_parent_without_a_parent_fails_the_step(db_url: str) -> None:
    wf = Workflow(workflow_type="Orphan1")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        await ctx.send_to_parent("hello")
        return ctx.next.complete()

    with pytest.raises(StepFailed, match="has no parent workflow"):
        Client(db_url).run_workflow(wf, "o-1", timeout=10)


def test_async_client_and_worker_in_one_process(db_url: str) -> None:
    wf = Workflow(workflow_type="Async1")

    @wf.start()
    async def start(ctx: Context, money: Money) -> Directive:
        return ctx.next.wait(timeout=timedelta(seconds=30))

    @wf.event()
    async def pay(ctx: Context, money: Money) -> Directive:
        return ctx.next.complete(Money(amount=money.amount * 2, currency=money.currency))

    async def main() -> tuple[Any, ...]:
        worker = Worker([wf], db_url)
        serving = asyncio.create_task(worker.start())
        client = AsyncClient(db_url, execute=False)
        try:
            handle = await client.start_workflow(
                "Async1", "a-1", Money(amount=2, currency="EUR"), return_type=Money
            )
            with pytest.raises(TimeoutError):
                await handle.result(timeout=timedelta(seconds=0.2))
            running = await client.describe("a-1")
            await handle.send("pay", Money(amount=5, currency="EUR"))
            result = await asyncio.wait_for(handle.future, timeout=10)
            done = handle.run_info
        finally:
            await worker.stop()
            await serving
        return running, result, done

    running, result, done = asyncio.run(main())
    assert running.status == RunStatus.running and running.wf_type == "Async1"
    assert result == Money(amount=10, currency="EUR")
    assert done.status == RunStatus.completed and done.completed_at is not None


def test_worker_refuses_bad_workflows() -> None:
    wf = Workflow(workflow_type="BadWorker1")
    with pytest.raises(WorkflowValidationError, match="'BadWorker1' has no start handler"):
        Worker([wf])

    @wf.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.complete()

    with pytest.raises(TypeError, match="non-empty list"):
        Worker([])
    with pytest.raises(TypeError, match="non-empty list"):
        Worker(wf)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="an in-memory journal belongs to one engine"):
        Worker([wf], "memory://")
    with pytest.raises(ValueError, match=r"Client\(..., execute=False\) on 'sqlite://:memory:'"):
        Client("sqlite://:memory:", execute=False)
    with pytest.raises(TypeError, match="every item must be"):
        Worker([wf, "Other"])  # type: ignore[list-item]


def test_a_submitting_client_records_types_it_does_not_define(db_url: str) -> None:
    """grctl's clients know workflow types by name; a worker that defines the type runs it."""
    client = Client(db_url, execute=False)
    handle = client.start_workflow("DefinedLater1", "l-1", {"n": 2})
    assert client.get_handle("l-1").describe().status == "Running"

    wf = Workflow(workflow_type="DefinedLater1")

    @wf.start()
    async def start(ctx: Context, n: int) -> Directive:
        return ctx.next.complete(n + 1)

    async def serve() -> Any:
        worker = Worker([wf], db_url)
        serving = asyncio.create_task(worker.start())
        try:
            return await asyncio.to_thread(handle.result, 10)
        finally:
            await worker.stop()
            await serving

    assert asyncio.run(serve()) == 3
