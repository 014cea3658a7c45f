"""Process-wide registries of tasks and workflows.

Cloaca keeps its registry thread-local, so a workflow defined in one thread
is invisible in another; ours is one dict per process guarded by a lock.
The stack of open ``WorkflowBuilder`` blocks is per thread (and per asyncio
task) because ``with`` blocks are.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskloom.task import TaskDefinition

# The DAG style's ``Workflow`` and ``WorkflowBuilder`` are kept here as ``Workflow``
# and ``WorkflowBuilder`` below, typed loosely: the core must not import a style.
Workflow = Any
WorkflowBuilder = Any

_lock = threading.RLock()
_tasks: dict[str, TaskDefinition[Any, Any]] = {}
_workflows: dict[str, Workflow] = {}
_constructors: dict[str, Callable[[], Workflow]] = {}
_workflow_type: type | None = None
_open_builders: contextvars.ContextVar[tuple[WorkflowBuilder, ...]] = contextvars.ContextVar(
    "taskloom_open_builders", default=()
)


def set_workflow_type(cls: type) -> None:
    """What a workflow constructor must return (the DAG style's ``Workflow``)."""
    global _workflow_type
    _workflow_type = cls


def current_builder() -> WorkflowBuilder | None:
    """The innermost ``WorkflowBuilder`` whose ``with`` block is open here."""
    stack = _open_builders.get()
    return stack[-1] if stack else None


def push_builder(builder: WorkflowBuilder) -> contextvars.Token[tuple[WorkflowBuilder, ...]]:
    return _open_builders.set((*_open_builders.get(), builder))


def pop_builder(token: contextvars.Token[tuple[WorkflowBuilder, ...]]) -> None:
    _open_builders.reset(token)


def register_task(definition: TaskDefinition[Any, Any]) -> None:
    """Make a task findable by id (``WorkflowBuilder.add_task("id")``)."""
    with _lock:
        _tasks[definition.task_id] = definition


def lookup_task(task_id: str) -> TaskDefinition[Any, Any] | None:
    with _lock:
        return _tasks.get(task_id)


def register_workflow(workflow: Workflow) -> None:
    """Register (or replace) a workflow under its name."""
    with _lock:
        _workflows[workflow.name] = workflow


def register_workflow_constructor(name: str, constructor: Callable[[], Workflow]) -> None:
    """Register a function that builds the workflow ``name`` on first use.

    Lets a process that only *resumes* runs (a worker) build workflows lazily.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("register_workflow_constructor: name must be a non-empty str")
    if not callable(constructor):
        raise TypeError(
            f"register_workflow_constructor({name!r}, ...): constructor must be callable"
        )
    with _lock:
        _constructors[name] = constructor
        _workflows.pop(name, None)


def lookup_workflow(name: str) -> Workflow | None:
    """The workflow registered under ``name``, building it from a constructor if needed."""
    with _lock:
        workflow = _workflows.get(name)
        if workflow is not None:
            return workflow
        constructor = _constructors.get(name)
    if constructor is None:
        return None
    built = constructor()
    if _workflow_type is not None and not isinstance(built, _workflow_type):
        raise TypeError(
            f"workflow constructor for {name!r} returned {type(built).__name__}, not a Workflow"
        )
    with _lock:
        _workflows.setdefault(name, built)
        return _workflows[name]


def workflow_names() -> list[str]:
    with _lock:
        return sorted(set(_workflows) | set(_constructors))
