"""Child workflows: ``ctx.run_child`` waits (without a slot), ``ctx.start_child`` does not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from taskloom import task
from taskloom.core.engine import Engine
from taskloom.core.shared_engines import shutdown_engines
from taskloom.journal import open_journal
from taskloom.steps import Client, Context, Directive, StepFailed, Workflow, WorkflowFailed
from taskloom.steps.directives import ErrorDetails


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    shutdown_engines(wait=False)


def make_child(name: str, calls: list[int], gate: threading.Event | None = None) -> Workflow:
    child = Workflow(workflow_type=name)

    @task
    def work(n: int) -> int:
        calls.append(n)
        if gate is not None:
            gate.wait(10)
        return n * 10

    @child.start()
    async def start(ctx: Context, n: int) -> Directive:
        if n < 0:
            return ctx.next.fail(ErrorDetails(type="Negative", message=f"{n} < 0"))
        return ctx.next.complete(await work(n))  # type: ignore[misc]

    return child


def test_run_child_returns_the_child_result(db_url: str) -> None:
    calls: list[int] = []
    child = make_child("Child1", calls)
    parent = Workflow(workflow_type="Parent1")

    @parent.start()
    async def start(ctx: Context) -> Directive:
        a = await ctx.run_child(child, input={"n": 1})
        b = await ctx.run_child("Child1", workflow_id="named-child", input={"n": 2})
        return ctx.next.complete([a, b])

    client = Client(db_url)
    assert client.run_workflow(parent, "p-1", timeout=10) == [10, 20]
    assert calls == [1, 2]
    assert client.get_handle("named-child").result(timeout=30) == 20
    assert client.get_handle("p-1.s000.0000").describe().status == "Completed"


def test_waiting_for_a_child_holds_no_slot(db_url: str) -> None:
    calls: list[int] = []
    child = make_child("Child2", calls)
    parent = Workflow(workflow_type="Parent2")

    @parent.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.complete(await ctx.run_child(child, input={"n": 3}))

    engine = Engine(open_journal(db_url), max_concurrent_tasks=1)
    try:
        assert Client(engine=engine).run_workflow(parent, "p-2", timeout=10) == 30
    finally:
        engine.shutdown()


def test_child_failure_is_raised_in_the_parent_step(db_url: str) -> None:
    child = make_child("Child3", [])
    parent = Workflow(workflow_type="Parent3")

    @parent.start()
    async def start(ctx: Context) -> Directive:
        try:
            await ctx.run_child(child, input={"n": -1})
        except WorkflowFailed as exc:
            return ctx.next.complete(exc.details.type)
        return ctx.next.complete("no error")

    uncaught = Workflow(workflow_type="Parent3b")

    @uncaught.start()
    async def start_b(ctx: Context) -> Directive:
        await ctx.run_child(child, input={"n": -2})
        return ctx.next.complete(None)

    client = Client(db_url)
    assert client.run_workflow(parent, "p-3", timeout=10) == "Negative"
    with pytest.raises(StepFailed, match="Negative"):
        client.run_workflow(uncaught, "p-3b", timeout=10)


def test_start_child_does_not_wait(db_url: str) -> None:
    gate = threading.Event()
    calls: list[int] = []
    child = make_child("Child4", calls, gate)
    parent = Workflow(workflow_type="Parent4")

    @parent.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.complete(await ctx.start_child(child, input={"n": 4}))

    client = Client(db_url)
    child_id = client.run_workflow(parent, "p-4", timeout=10)
    assert child_id == "p-4.s000.0000"
    assert client.get_handle(child_id).describe().status == "Running"
    gate.set()
    assert client.get_handle(child_id).result(timeout=10) == 40


def test_parent_replayed_after_a_crash_does_not_start_the_child_twice(db_url: str) -> None:
    gate = threading.Event()
    calls: list[int] = []
    child = make_child("Child5", calls, gate)
    parent = Workflow(workflow_type="Parent5")
    parent_steps: list[str] = []

    @parent.start()
    async def start(ctx: Context) -> Directive:
        parent_steps.append("start")
        return ctx.next.complete(await ctx.run_child(child, input={"n": 5}))

    client = Client(db_url)
    client.start_workflow(parent, "p-5")
    deadline = time.monotonic() + 10
    while not calls:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    shutdown_engines(wait=False)  # parent waiting, child mid-task: both orphaned
    gate.set()
    again = Client(db_url)
    assert again.get_handle("p-5").result(timeout=10) == 50
    # The child's task re-ran once (it was in flight: at-least-once), but no
    # second child run was created.
    runs = {r.run_id for r in again._engine.journal.list_runs(limit=50)}
    assert runs == {"p-5", "p-5.s000.0000"}


def test_bad_child_arguments_fail_clearly(db_url: str) -> None:
    parent = Workflow(workflow_type="Parent6")

    @parent.start()
    async def start(ctx: Context) -> Directive:
        await ctx.run_child("NoSuchWorkflow")
        return ctx.next.complete(None)

    with pytest.raises(StepFailed, match="NoSuchWorkflow"):
        Client(db_url).run_workflow(parent, "p-6", timeout=10)


def _tree_workflows() -> tuple[Workflow, Workflow]:
    waiter = Workflow(workflow_type="LWaiter")

    @waiter.start()
    async def wait_start(ctx: Context) -> Directive:
        return ctx.next.wait()

    @waiter.event("go")
    async def go(ctx: Context) -> Directive:
        return ctx.next.complete("went")

    tree = Workflow(workflow_type="LTree")

    @tree.start()
    async def tree_start(ctx: Context, depth: int) -> Directive:
        if depth == 0:
            return ctx.next.wait()
        await ctx.start_child(waiter)
        return ctx.next.complete(await ctx.run_child(tree, input={"depth": depth - 1}))

    @tree.event("go")
    async def leaf(ctx: Context) -> Directive:
        return ctx.next.complete("leaf")

    return waiter, tree


def test_cancelling_a_parent_cancels_its_unfinished_children_recursively(db_url: str) -> None:
    waiter, tree = _tree_workflows()
    client = Client(db_url)
    root = client.start_workflow(tree, "t", {"depth": 2})
    other = client.start_workflow(waiter, "other")
    runs = ["t", "t.s000.0000", "t.s000.0001", "t.s000.0001.s000.0000", "t.s000.0001.s000.0001"]
    journal = client._engine.journal
    deadline = time.monotonic() + 10
    while any(journal.get_run(r) is None for r in runs):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert root.cancel() is True
    for run_id in runs:
        with pytest.raises(WorkflowFailed, match="Cancelled"):
            client.get_handle(run_id).result(timeout=30)
    errors = {r: journal.get_run(r).error for r in runs}  # type: ignore[union-attr]
    assert errors == {
        "t": "cancelled by request",
        **{r: "cancelled by request (cancelled with run t)" for r in runs[1:]},
    }
    assert root.cancel() is False
    # An unrelated run is untouched; a finished parent's children are not cancelled.
    other.send("go")
    assert other.result(timeout=10) == "went"


def test_a_wake_up_while_the_node_runs_is_not_lost(db_url: str) -> None:
    """A reason to wake (an event, a child's end) that comes after the step looked but
    before it suspended makes it run again at once."""
    executions: list[float] = []
    engine = Engine(open_journal(db_url))
    sleeper = Workflow(workflow_type="WokenWhileRunning")

    @sleeper.start()
    async def start(ctx: Context) -> Directive:
        executions.append(time.monotonic())
        if len(executions) == 1:
            engine.wake(ctx.workflow_id)  # arrives while this node runs
        await ctx.sleep(60)
        return ctx.next.complete(len(executions))

    try:
        handle = Client(engine=engine).start_workflow(sleeper, "woken")
        deadline = time.monotonic() + 5
        while len(executions) < 2:
            assert time.monotonic() < deadline, "the wake-up was lost"
            time.sleep(0.01)
        assert handle.describe().status == "Running"  # re-run, and asleep again
    finally:
        engine.shutdown(wait=False)
