"""Bad input gets a clear error: at decoration time, or as the run's failure naming the culprit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskloom import task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.errors import WorkflowValidationError
from taskloom.steps import (
    Client,
    Context,
    Directive,
    StepFailed,
    Workflow,
    WorkflowAlreadyRunning,
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


def test_two_start_handlers_fail_at_decoration() -> None:
    wf = Workflow(workflow_type="TwoStarts")

    @wf.start()
    async def one(ctx: Context) -> Directive:
        return ctx.next.complete(None)

    with pytest.raises(WorkflowValidationError, match="already has a start handler"):

        @wf.start()
        async def two(ctx: Context) -> Directive:
            return ctx.next.complete(None)


def test_non_directive_return_names_the_step(db_url: str) -> None:
    wf = Workflow(workflow_type="NoDirective")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        return "oops"  # type: ignore[return-value]

    with pytest.raises(StepFailed, match="step 'start' of workflow 'NoDirective' returned str"):
        Client(db_url).run_workflow(wf, timeout=10)


def test_uncaught_exception_fails_with_step_failed_details(db_url: str) -> None:
    wf = Workflow(workflow_type="Uncaught")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        raise LookupError("gone")

    with pytest.raises(StepFailed) as info:
        Client(db_url).run_workflow(wf, timeout=10)
    details = info.value.details
    assert (details.type, details.message) == ("LookupError", "gone")
    assert details.stack_trace and "LookupError: gone" in details.stack_trace


def test_non_serialisable_task_result_names_the_task(db_url: str) -> None:
    wf = Workflow(workflow_type="BadResult")

    @task
    async def make_set() -> object:
        return object()

    @wf.start()
    async def start(ctx: Context) -> Directive:
        await make_set()
        return ctx.next.complete(None)

    with pytest.raises(StepFailed, match="task 'make_set' returned a object"):
        Client(db_url).run_workflow(wf, timeout=10)


def test_step_timeout(db_url: str) -> None:
    import asyncio

    wf = Workflow(workflow_type="SlowStep")

    @wf.start(timeout=0.05)
    async def start(ctx: Context) -> Directive:
        await asyncio.sleep(5)
        return ctx.next.complete(None)

    with pytest.raises(StepFailed, match=r"timed out after 0\.05 s"):
        Client(db_url).run_workflow(wf, timeout=10)


def test_starting_a_running_workflow_id(db_url: str) -> None:
    import asyncio

    wf = Workflow(workflow_type="Dup")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        await asyncio.sleep(0.3)
        return ctx.next.complete("ok")

    client = Client(db_url)
    handle = client.start_workflow(wf, "dup-1")
    with pytest.raises(WorkflowAlreadyRunning, match="'dup-1' is still running"):
        client.start_workflow(wf, "dup-1")
    assert client.start_workflow(wf, "dup-1", if_running="return").workflow_id == "dup-1"
    assert handle.result(timeout=10) == "ok"
    with pytest.raises(WorkflowAlreadyRunning, match="already ran"):
        client.start_workflow(wf, "dup-1")


def test_cancel(db_url: str) -> None:
    import asyncio

    wf = Workflow(workflow_type="Cancel")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        await asyncio.sleep(30)
        return ctx.next.complete("never")

    handle = Client(db_url).start_workflow(wf, "c-1")
    assert handle.cancel()
    with pytest.raises(Exception, match=r"[Cc]ancelled"):
        handle.result(timeout=10)
    assert handle.describe().status == "Cancelled"


def test_bad_store_value_and_unknown_step() -> None:
    from taskloom.steps.store import Store

    with pytest.raises(TypeError, match=r"ctx.store.put\('k'"):
        Store({}).put("k", object())
    wf = Workflow(workflow_type="UnknownStep")
    with pytest.raises(WorkflowValidationError, match="has no step"):
        wf.step_name("nope")
