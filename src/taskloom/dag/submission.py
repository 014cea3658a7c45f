"""What every way of starting a run checks first: the workflow and its input.

Shared by the local :class:`~taskloom.dag.runner.DefaultRunner` and
the distributed :class:`~taskloom.distributed.client.Client`, so both refuse
the same bad input with the same message.
"""

from __future__ import annotations

import json
from typing import Any

from taskloom.core.registry import lookup_workflow, workflow_names
from taskloom.dag.context import Context, find_non_json
from taskloom.dag.workflow import Workflow


def resolve_workflow(workflow: str | Workflow) -> Workflow:
    """The workflow a name (or the object itself) designates."""
    if isinstance(workflow, Workflow):
        return workflow
    if not isinstance(workflow, str):
        raise TypeError(
            f"workflow must be a name (str) or a Workflow, got {type(workflow).__name__}"
        )
    found = lookup_workflow(workflow)
    if found is None:
        known = ", ".join(repr(n) for n in workflow_names()) or "none"
        raise ValueError(
            f"unknown workflow {workflow!r}; registered workflows: {known}. Define it "
            "in a WorkflowBuilder block (or import the module that does) first"
        )
    if not isinstance(found, Workflow):  # a constructor's result is checked when built
        raise TypeError(f"workflow {workflow!r} is a {type(found).__name__}, not a Workflow")
    return found


def context_json(context: Any) -> str:
    """Validate a run's input context and turn it into JSON text."""
    if context is None:
        return "{}"
    if isinstance(context, Context):
        return context.to_json()
    if isinstance(context, dict):
        problem = find_non_json(context, "")
        if problem is not None:
            raise TypeError(f"context is not JSON-serialisable: {problem}")
        return json.dumps(context)
    raise TypeError(f"context must be a taskloom Context or a dict, got {type(context).__name__}")
