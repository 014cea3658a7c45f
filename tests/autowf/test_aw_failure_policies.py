"""Port of auto_workflow's failure-policy tests; only the imports changed (plus more cases)."""

import builtins

import pytest

from taskloom import FailurePolicy, flow, task
from taskloom.compat.auto_workflow.exceptions import (
    AggregateTaskError,
    AutoWorkflowError,
    RetryExhaustedError,
    TaskExecutionError,
    TimeoutError,
)


@task
def good():
    return 1


@task
def bad():
    raise ValueError("boom")


@task
def uses(x):
    return x


@flow
def fail_fast_flow():
    a = bad()
    b = uses(a)
    return b


@flow
def continue_flow():
    a = bad()
    b = good()
    return [a, b]


@flow
def aggregate_flow():
    a = bad()
    b = bad()
    return [a, b]


def test_fail_fast_policy():
    with pytest.raises(TaskExecutionError) as info:
        fail_fast_flow.run(failure_policy=FailurePolicy.FAIL_FAST)
    assert info.value.task_name == "bad"
    assert (
        isinstance(info.value.__cause__, ValueError) and info.value.original is info.value.__cause__
    )
    assert isinstance(info.value, AutoWorkflowError)
    assert not isinstance(info.value, RetryExhaustedError)  # one attempt, nothing to exhaust


def test_continue_policy():
    res = continue_flow.run(failure_policy=FailurePolicy.CONTINUE)
    assert hasattr(res[0], "task_name") and res[0].task_name == "bad"
    assert res[1] == 1


def test_aggregate_policy():
    with pytest.raises(AggregateTaskError) as info:
        aggregate_flow.run(failure_policy=FailurePolicy.AGGREGATE)
    assert len(info.value.errors) == 2
    assert all(isinstance(e, TaskExecutionError) for e in info.value.errors.values())


def test_plain_strings_are_the_same_policies():
    assert FailurePolicy.CONTINUE == "continue"
    res = continue_flow.run(failure_policy="continue")
    assert res[1] == 1
    with pytest.raises(ValueError, match=r"failure_policy='sometimes'.*FailurePolicy\.FAIL_FAST"):
        continue_flow.run(failure_policy="sometimes")


calls = []


@task(retries=2, retry_backoff=0.01)
def flaky():
    calls.append(1)
    raise ConnectionError("down")


@flow
def retrying_flow():
    return flaky()


def test_retries_exhausted_names_the_task():
    calls.clear()
    with pytest.raises(RetryExhaustedError) as info:
        retrying_flow.run()
    assert len(calls) == 3
    assert isinstance(info.value, TaskExecutionError)
    assert isinstance(info.value.original, ConnectionError)


@task(timeout=0.05)
async def slow():
    import asyncio

    await asyncio.sleep(5)


@flow
def slow_flow():
    return slow()


def test_timeout_is_a_task_execution_error_and_a_builtin_timeout():
    with pytest.raises(TimeoutError) as info:
        slow_flow.run()
    assert isinstance(info.value, TaskExecutionError)
    assert isinstance(info.value, builtins.TimeoutError)
    assert info.value.task_name == "slow"


@flow
def no_tasks(x):
    return {"double": x * 2}


def test_flow_without_tasks_returns_the_body_value():
    assert no_tasks.run(4) == {"double": 8}
