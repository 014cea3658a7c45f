"""What every way of starting a run checks first: the workflow, its input, its time limits.

Shared by the local :class:`~taskloom.execution.runner.DefaultRunner` and
the distributed :class:`~taskloom.execution.client.Client`, so both refuse
the same bad input with the same message.
"""

from __future__ import annotations

import json
from typing import Any

from taskloom.authoring.context import Context, find_non_json
from taskloom.authoring.registry import lookup_workflow, workflow_names
from taskloom.authoring.workflow import Workflow


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


def check_timeout(name: str, value: float | None) -> float | None:
    """A timeout option: a positive number of seconds, or None for no limit.

    ``name`` is how the caller spelled the option, so the message names it.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name}={value!r}: give a positive number of seconds or None")
    return float(value)
