"""Plan for Cloaca's style: tasks share a ``Context`` that flows along edges.

A task's input is the merge of its completed dependencies' output contexts
(or the run's input for a root); its output is the context it returns, or
the one it was given if it returns ``None``. A task skipped by its own
trigger rule passes the context it was given on, as Cloaca's fan-in does:
its dependents still run, and see what flowed into it. Outputs are recorded as JSON,
and every task gets a freshly decoded copy, so tasks never share mutable
state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from taskloom.core.plan import Invocation, Plan, PlanNode
from taskloom.dag.context import Context, find_non_json, merge_contexts
from taskloom.dag.graph_invocation import invoking_body
from taskloom.dag.workflow import Workflow


class DagPlan(Plan):
    """A ``Workflow`` ready for the scheduler."""

    kind = "dag"
    fixed_graph = True
    worker_task_timeout_applies = True

    def __init__(self, workflow: Workflow, *, default_timeout: float | None = None) -> None:
        self.workflow = workflow
        self.workflow_name = workflow.name
        self.workflow_version = workflow.version
        self.nodes = {}
        for task_id in workflow.topological_sort():
            definition = workflow.tasks[task_id]
            self.nodes[task_id] = PlanNode(
                key=task_id,
                deps=definition.dependencies,
                fn=definition.fn if definition.invokes is None else invoking_body(definition),
                is_async=definition.is_async,
                retry=definition.retry_policy,
                timeout=definition.timeout if definition.timeout is not None else default_timeout,
                priority=definition.priority,
                trigger_rule=definition.trigger_rule,
                handle_parameter=definition.handle_parameter,
                on_success=definition.on_success,
                on_failure=definition.on_failure,
                label=task_id,
            )
        self._sinks = workflow.get_leaves()

    def prepare(self, node: PlanNode, dep_outputs: Mapping[str, str], run_input: str) -> Invocation:
        completed = [dep_outputs[d] for d in node.deps if d in dep_outputs]
        if not node.deps:
            data: dict[str, Any] = json.loads(run_input)
        elif len(completed) == 1:
            data = json.loads(completed[0])
        elif completed:
            data = merge_contexts([json.loads(text) for text in completed])
        else:
            data = json.loads(run_input)
        context = Context._trusted(data)
        return Invocation(args=(context,), state=context)

    def encode(self, node: PlanNode, invocation: Invocation, value: Any) -> str:
        if value is None:
            value = invocation.state
        if isinstance(value, Context):
            data = value.data
        elif isinstance(value, Mapping):
            data = dict(value)
        else:
            raise TypeError(
                f"task {node.label!r} returned {type(value).__name__}; a task must return "
                "its Context (or None to keep the changes made to the context it was given)"
            )
        try:
            return json.dumps(data, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            problem = find_non_json(data, "") or "a value that is not JSON"
            raise TypeError(
                f"task {node.label!r} put {problem} in its context; store only JSON values"
            ) from None

    def final_output(self, outputs: Mapping[str, str], run_input: str) -> str:
        completed = [outputs[s] for s in self._sinks if s in outputs]
        if not completed:
            return run_input
        if len(completed) == 1:
            return completed[0]
        merged = merge_contexts([json.loads(text) for text in completed])
        return json.dumps(merged, separators=(",", ":"))

    def result_keys(self) -> Sequence[str]:
        return list(self._sinks)

    def skipped_output(self, node: PlanNode, invocation: Invocation) -> str | None:
        state = invocation.state
        data = state.data if isinstance(state, Context) else {}
        return json.dumps(data, separators=(",", ":"), allow_nan=False)

    def callback_state(self, invocation: Invocation, output: str | None) -> Any:
        if output is not None:
            return Context._trusted(json.loads(output))
        return invocation.state
