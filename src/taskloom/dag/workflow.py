"""Cloaca's ``WorkflowBuilder`` and the immutable ``Workflow`` it builds.

A workflow is validated once, when the ``with`` block closes (or ``build()``
is called): missing dependencies, cycles, empty workflows and trigger rules
that look at tasks which cannot have finished yet are reported there,
naming the tasks, instead of surfacing in the middle of a run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from taskloom.core import graph, registry
from taskloom.errors import WorkflowValidationError
from taskloom.task import TaskDefinition


class Workflow:
    """A named, validated DAG of tasks. Immutable once built."""

    def __init__(
        self,
        name: str,
        tasks: Mapping[str, TaskDefinition[Any, Any]],
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.tags: dict[str, str] = dict(tags or {})
        self.tasks: dict[str, TaskDefinition[Any, Any]] = dict(tasks)
        self.dependencies: dict[str, tuple[str, ...]] = {
            task_id: definition.dependencies for task_id, definition in self.tasks.items()
        }
        self.validate()
        self._order = graph.topological_order(self.dependencies)
        self.version = self._content_hash()

    def validate(self) -> None:
        """Raise ``ValueError`` if the workflow cannot run; say which task and why."""
        if not self.tasks:
            raise WorkflowValidationError(
                f"Workflow validation failed: Workflow cannot be empty: workflow {self.name!r} "
                "has no tasks; declare @task functions inside the WorkflowBuilder block or add "
                "them with add_task()"
            )
        for task_id, deps in self.dependencies.items():
            for dep in deps:
                if dep not in self.tasks:
                    raise WorkflowValidationError(
                        f"workflow {self.name!r}: task {task_id!r} depends on {dep!r}, which is "
                        f"not in the workflow; declare {dep!r} in the builder or fix the id"
                    )
        cycle = graph.find_cycle(self.dependencies)
        if cycle:
            raise WorkflowValidationError(
                f"workflow {self.name!r} has a cycle: {' -> '.join(cycle)}; "
                "remove one of these dependencies"
            )
        ancestors = self._ancestors()
        for task_id, definition in self.tasks.items():
            rule = definition.trigger_rule
            if rule is None:
                continue
            for ref in sorted(rule.referenced_tasks()):
                if ref not in ancestors[task_id]:
                    raise WorkflowValidationError(
                        f"workflow {self.name!r}: trigger rule of task {task_id!r} looks at "
                        f"task {ref!r}, which is not upstream of it; add {ref!r} to "
                        f"{task_id!r}'s dependencies"
                    )

    def _ancestors(self) -> dict[str, frozenset[str]]:
        """Upstream tasks of each task. Only used for trigger-rule validation."""
        result: dict[str, frozenset[str]] = {}
        for task_id in graph.topological_order(self.dependencies):
            acc: set[str] = set()
            for dep in self.dependencies[task_id]:
                acc.add(dep)
                acc |= result[dep]
            result[task_id] = frozenset(acc)
        return result

    def _content_hash(self) -> str:
        """Stable across processes; changes when a task, option or edge changes."""
        payload = {
            "name": self.name,
            "tasks": [
                self.tasks[t].fingerprint() | {"deps": self.dependencies[t]}
                for t in sorted(self.tasks)
            ],
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def topological_sort(self) -> list[str]:
        """Task ids, every task after its dependencies."""
        return list(self._order)

    def get_execution_levels(self) -> list[list[str]]:
        """Task ids grouped into levels whose members can run in parallel."""
        return graph.execution_levels(self.dependencies)

    def get_roots(self) -> list[str]:
        return graph.roots(self.dependencies)

    def get_leaves(self) -> list[str]:
        return graph.leaves(self.dependencies)

    def get_task(self, task_id: str) -> TaskDefinition[Any, Any]:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise KeyError(f"workflow {self.name!r} has no task {task_id!r}") from None

    def __len__(self) -> int:
        return len(self.tasks)

    def __repr__(self) -> str:
        return f"<Workflow {self.name!r} version={self.version} tasks={len(self.tasks)}>"


class WorkflowBuilder:
    """Collects tasks into a workflow; registers it when the ``with`` block ends."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"WorkflowBuilder name={name!r}: give a non-empty str")
        self.name = name
        self._description = ""
        self._tags: dict[str, str] = {}
        self._tasks: dict[str, TaskDefinition[Any, Any]] = {}
        self._token: Any = None

    def __enter__(self) -> WorkflowBuilder:
        self._token = registry.push_builder(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        registry.pop_builder(self._token)
        self._token = None
        if exc_type is None:
            registry.register_workflow(self.build())

    def description(self, text: str) -> WorkflowBuilder:
        self._description = str(text)
        return self

    def tag(self, key: str, value: str) -> WorkflowBuilder:
        self._tags[str(key)] = str(value)
        return self

    def add_task(
        self, task: str | TaskDefinition[Any, Any] | Callable[..., Any]
    ) -> WorkflowBuilder:
        """Add a task by object or by the id it was registered under."""
        if isinstance(task, str):
            found = registry.lookup_task(task)
            if found is None:
                raise WorkflowValidationError(
                    f"Task '{task}' not found in registry. Make sure it was decorated with "
                    f"@task. (WorkflowBuilder {self.name!r}: no task with id {task!r} is "
                    "registered; decorate it with @task before add_task)"
                )
            definition = found
        elif isinstance(task, TaskDefinition):
            definition = task
        else:
            raise TypeError(
                f"WorkflowBuilder {self.name!r}: add_task takes a task id or an @task function, "
                f"got {task!r}"
            )
        existing = self._tasks.get(definition.task_id)
        if existing is not None and existing is not definition:
            raise ValueError(
                f"WorkflowBuilder {self.name!r}: two different tasks have the id "
                f"{definition.task_id!r}; give one of them another id"
            )
        self._tasks[definition.task_id] = definition
        return self

    def build(self) -> Workflow:
        """Validate and return the workflow (without registering it)."""
        return Workflow(self.name, self._tasks, description=self._description, tags=self._tags)

    def __repr__(self) -> str:
        return f"<WorkflowBuilder {self.name!r} tasks={list(self._tasks)}>"


registry.set_workflow_type(Workflow)
