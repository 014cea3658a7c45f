"""How the DAG style plugs into the style-independent client and workers.

The distributed :class:`~taskloom.distributed.client.Client` submits and the
:class:`~taskloom.distributed.worker.Worker` serves runs without importing a
style; this module registers, in :mod:`taskloom.core.styles`, what they need
of Cloaca's style: its planner (by importing the runner), how a workflow and
its context become a plan, and which workflows a worker serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskloom.core import styles
from taskloom.core.plan import Plan
from taskloom.core.registry import lookup_workflow, workflow_names
from taskloom.dag import (
    cron_api,  # noqa: F401  (registers the "dag" schedule style)
    deploys,  # noqa: F401  (registers adoption and retry rules)
    reactor_runs,  # noqa: F401  (registers the "reactor" planner)
    runner,  # noqa: F401  (registers the "dag" planner)
)
from taskloom.dag.plan import DagPlan
from taskloom.dag.submission import context_json, resolve_workflow
from taskloom.dag.workflow import Workflow


def _submission(workflow: Any, context: Any) -> tuple[Plan, str]:
    return DagPlan(resolve_workflow(workflow)), context_json(context)


def _workflows(selected: Sequence[Workflow | str] | None) -> list[Workflow]:
    """The workflows a worker serves: the ones named, or every registered one."""
    if selected is None:
        found = [lookup_workflow(name) for name in workflow_names()]
        return [w for w in found if w is not None]
    result: list[Workflow] = []
    for item in selected:
        if isinstance(item, Workflow):
            result.append(item)
            continue
        workflow = lookup_workflow(item)
        if workflow is None:
            known = ", ".join(repr(n) for n in workflow_names()) or "none"
            raise ValueError(f"unknown workflow {item!r}; registered workflows: {known}")
        result.append(workflow)
    return result


def _served(selected: Sequence[Workflow | str] | None) -> tuple[list[Plan], list[Any]]:
    return [DagPlan(w) for w in _workflows(selected)], []


styles.register_submitter("dag", _submission)
styles.register_served("workflows", _served)
