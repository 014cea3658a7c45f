"""Durable functions: ``@workflow`` on a function that calls tasks (a one-step workflow)."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import taskloom
import taskloom.steps
from crashkit import kill_when_reached, run_to_end
from taskloom import task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.errors import WorkflowValidationError
from taskloom.steps import (
    Client,
    Context,
    Directive,
    StepContext,
    StepFailed,
    Workflow,
    run_workflow,
    start_workflow,
    workflow,
)
from taskloom.steps.functions import durable


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    shutdown_engines(wait=False)


@dataclass
class Receipt:
    txn: str
    amount: float


def test_names_and_aliases() -> None:
    assert taskloom.durable is workflow is durable
    assert taskloom.steps.workflow is workflow
    assert taskloom.Workflow.__module__ == "taskloom.dag.workflow"  # Cloaca's, untouched


def test_async_function_runs_and_journals_its_tasks(db_url: str) -> None:
    @task
    async def charge(amount: float) -> str:
        return f"txn-{amount:g}"

    @task
    async def confirm(txn: str, email: str) -> str:
        return f"sent {txn} to {email}"

    @workflow(name="DurableOrder")
    async def order(amount: float, email: str) -> dict[str, str]:
        txn = await charge(amount)
        return {"txn": txn, "status": await confirm(txn, email)}

    handle = order.start("order-1", {"amount": 5, "email": "a@x"}, db=db_url)
    assert handle.result(timeout=10) == {"txn": "txn-5", "status": "sent txn-5 to a@x"}
    assert handle.describe().steps == ["order"]
    keys = [e["key"] for e in handle.history() if e["kind"] == "operation_completed"]
    assert [k.rsplit(":", 1)[1] for k in keys] == ["charge", "confirm"]


def test_direct_call_runs_on_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKLOOM_DATABASE_URL", f"sqlite:///{tmp_path / 'default.db'}")

    @task
    async def make(txn: str, amount: float) -> Receipt:
        return Receipt(txn, amount)

    @workflow
    async def receipt(txn: str, amount: float = 1.0) -> Receipt:
        return await make(txn, amount)

    assert asyncio.run(receipt("t1", amount=2.5)) == Receipt("t1", 2.5)
    assert receipt.run(input={"txn": "t2"}, db=f"sqlite:///{tmp_path / 'default.db'}") == Receipt(
        "t2", 1.0
    )
    with pytest.raises(TypeError, match=r"durable function 'receipt'.*missing"):
        _ = receipt()  # the arguments are checked at the call, before any run starts


def test_sync_function_calls_sync_tasks_and_gets_values(db_url: str) -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    @task
    async def double(x: int) -> int:
        return 2 * x

    @workflow(name="SyncSum")
    def total(xs: list[int], ctx: object) -> dict[str, object]:
        acc = 0
        for x in xs:
            acc = add(acc, x)
        assert hasattr(ctx, "random")
        return {"sum": double(acc), "id": ctx.workflow_id}  # type: ignore[attr-defined]

    handle = start_workflow("SyncSum", "sum-1", {"xs": [1, 2, 3]}, db=db_url)
    assert handle.result(timeout=10) == {"sum": 12, "id": "sum-1"}
    ops = [e["key"] for e in handle.history() if e["kind"] == "operation_completed"]
    assert [k.rsplit(":", 1)[1] for k in ops] == ["add", "add", "add", "double"]


def test_ctx_parameter_gets_the_step_context_and_recorded_helpers(db_url: str) -> None:
    @workflow(name="WithCtx")
    async def stamped(ctx: Context, label: str) -> list[object]:
        assert isinstance(ctx, StepContext)
        await ctx.sleep(0)
        return [label, ctx.workflow_id, (await ctx.now()).year > 2000, 0 <= ctx.random() < 1]

    assert run_workflow("WithCtx", "c-1", {"label": "x"}, db=db_url, timeout=10) == [
        "x",
        "c-1",
        True,
        True,
    ]


def test_exception_fails_the_run_as_step_failed(db_url: str) -> None:
    @task
    async def boom() -> None:
        raise KeyError("no such order")

    @workflow(name="DurableBoom")
    async def broken() -> None:
        await boom()

    with pytest.raises(StepFailed) as info:
        Client(db_url).run_workflow(broken, "b-1", timeout=10)
    assert info.value.details.type == "KeyError"
    assert "no such order" in info.value.details.message
    assert info.value.step == "broken"


def test_unrecordable_result_and_bad_input_fail_clearly(db_url: str) -> None:
    @workflow(name="BadResult")
    async def bad_result() -> object:
        return object()

    with pytest.raises(StepFailed, match="durable function 'BadResult' returned a object"):
        bad_result.run(db=db_url, timeout=10)

    @workflow(name="NeedsX")
    async def needs_x(x: int) -> int:
        return x

    with pytest.raises(TypeError, match=r"'NeedsX': missing .*'x' \(its parameters: x\)"):
        needs_x.run(input={"y": 1}, db=db_url, timeout=10)
    with pytest.raises(StepFailed, match="unexpected keyword argument 'y'"):
        run_workflow("NeedsX", input={"x": 1, "y": 1}, db=db_url, timeout=10)
    assert needs_x.run(input=7, db=db_url, timeout=10) == 7  # one value: one argument


def test_called_from_a_step_it_runs_as_a_child(db_url: str) -> None:
    @workflow(name="ChildFn")
    async def square(x: int) -> int:
        return x * x

    parent = Workflow(workflow_type="ParentOfFn")

    @parent.start()
    async def start(ctx: Context) -> Directive:
        direct = await square(3)
        via_ctx = await ctx.run_child(square, input={"x": 4})
        return ctx.next.complete([direct, via_ctx])

    assert Client(db_url).run_workflow(parent, "p-1", timeout=10) == [9, 16]
    assert Client(db_url).get_handle("p-1.s000.0000").result(timeout=30) == 9


def test_bad_decorations_are_refused() -> None:
    with pytest.raises(TypeError, match="must decorate a function"):
        workflow(Receipt)

    with pytest.raises(TypeError, match="must decorate a function"):
        workflow(42)  # type: ignore[call-overload]

    with pytest.raises(ValueError, match="non-empty str"):
        workflow(name="  ")

    with pytest.raises(ValueError, match="positive number of seconds"):
        workflow(name="BadTimeout", timeout=0)

    with pytest.raises(TypeError, match="cannot be given by keyword"):

        @workflow(name="PosOnly")
        def pos_only(a: int, /) -> int:
            return a

    @workflow(name="TakenName")
    def first() -> None:
        return None

    with pytest.raises(WorkflowValidationError, match="'TakenName' is already used by durable"):

        @workflow(name="TakenName")
        def second() -> None:
            return None

    Workflow(workflow_type="TakenByStepWorkflow")
    with pytest.raises(WorkflowValidationError, match="already used by a step workflow"):

        @workflow(name="TakenByStepWorkflow")
        def third() -> None:
            return None


def test_sync_function_cannot_be_called_directly_inside_a_step(db_url: str) -> None:
    @workflow(name="SyncChild")
    def sync_child() -> int:
        return 1

    parent = Workflow(workflow_type="ParentOfSync")

    @parent.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.complete(sync_child())

    with pytest.raises(StepFailed, match=r"use `await ctx\.run_child"):
        Client(db_url).run_workflow(parent, "ps-1", timeout=10)


SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from taskloom import task
    from taskloom.steps import Client, workflow

    SIDE, DB = sys.argv[2], sys.argv[3]

    def note(text):
        with open(SIDE, "a") as f:
            f.write(text + "\\n")
            f.flush()
            os.fsync(f.fileno())

    @task
    def charge_payment(amount: float) -> str:
        note("charge")
        return "txn_abc123"

    @task
    def send_confirmation(txn_id: str, email: str) -> None:
        note("confirm " + txn_id)

    @workflow(name="ProcessOrderFn")
    def process_order(amount: float, email: str) -> dict:
        txn_id = charge_payment(amount)
        if os.environ.get("CRASH") == "1":
            note("waiting")
            time.sleep(60)  # killed here, before send_confirmation
        send_confirmation(txn_id, email)
        return {"txn_id": txn_id}

    client = Client(DB)
    if sys.argv[1] == "run":
        client.start_workflow("ProcessOrderFn", "order-1", {"amount": 5.0, "email": "a@x"})
        asyncio.run(asyncio.sleep(120))
    else:
        print(json.dumps(client.get_handle("order-1").result(timeout=20)))
    """
)


@pytest.mark.timeout(60)
def test_sigkill_mid_function_then_restart_replays_completed_tasks(tmp_path: Path) -> None:
    script = tmp_path / "order.py"
    script.write_text(SCRIPT)
    side = tmp_path / "side.txt"
    db = f"sqlite:///{tmp_path / 'durable.db'}"
    env = {**os.environ, "CRASH": "1"}
    kill_when_reached([str(script), "run", str(side), db], side, "waiting", env=env)
    env.pop("CRASH")
    last = run_to_end([str(script), "resume", str(side), db], env=env)
    assert json.loads(last) == {"txn_id": "txn_abc123"}
    # charge_payment ran once (its recorded value was replayed), send_confirmation once
    assert side.read_text().split("\n")[:-1] == ["charge", "waiting", "confirm txn_abc123"]
