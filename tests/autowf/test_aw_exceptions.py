"""auto_workflow's exception hierarchy, mapped onto taskloom.errors."""

import pytest

import taskloom
from taskloom.compat.auto_workflow import exceptions as aw
from taskloom.compat.auto_workflow.dag import DAG
from taskloom.errors import TaskloomError, TaskTimeoutError


def test_hierarchy_matches_auto_workflow():
    assert aw.AutoWorkflowError is TaskloomError
    for name in (
        "CycleDetectedError",
        "TaskExecutionError",
        "InvalidGraphError",
        "AggregateTaskError",
    ):
        assert issubclass(getattr(aw, name), aw.AutoWorkflowError), name
    assert issubclass(aw.TimeoutError, aw.TaskExecutionError)
    assert issubclass(aw.RetryExhaustedError, aw.TaskExecutionError)
    assert issubclass(aw.CycleDetectedError, aw.InvalidGraphError)
    # taskloom's own classes keep working: a flow timeout is still a TaskTimeoutError.
    assert issubclass(aw.TimeoutError, TaskTimeoutError)
    assert taskloom.TaskExecutionError is aw.TaskExecutionError


def test_task_execution_error_carries_the_task_and_the_cause():
    original = KeyError("k")
    error = aw.TaskExecutionError("load", original)
    assert error.task_name == "load" and error.original is original
    assert error.__cause__ is original
    assert "Task 'load' failed" in str(error)


def test_cycle_detection():
    dag = DAG()
    dag.add_edge("a", "b")
    dag.add_edge("b", "c")
    dag.add_edge("c", "a")
    dag.add_edge("x", "a")
    with pytest.raises(aw.CycleDetectedError) as info:
        dag.topological_sort()
    assert info.value.cycle == ["a", "b", "c"]
    assert "Cycle detected" in str(info.value)
