"""How DAG runs are adopted by a new version of their workflow (see core/adoption.py).

A DAG workflow's version hashes its tasks' code, options and edges, so any
deploy that touches it leaves the runs in flight at an old version. Here
the DAG style tells the core which version this process has and builds
the current version's plan for a recorded run.
"""

from __future__ import annotations

from taskloom.core import adoption, shapes
from taskloom.core.plan import Plan
from taskloom.core.registry import lookup_workflow
from taskloom.core.styles import PlanHost
from taskloom.dag.plan import DagPlan
from taskloom.journal.records import RunRecord, TaskRecord


def _version(name: str) -> str | None:
    workflow = lookup_workflow(name)
    return workflow.version if workflow is not None else None


def _adopter(
    run: RunRecord, host: PlanHost, records: list[TaskRecord]
) -> tuple[Plan, dict[str, list[str]]] | None:
    workflow = lookup_workflow(run.workflow_name)
    if workflow is None:
        return None
    plan = DagPlan(workflow, default_timeout=host.task_timeout)
    return plan, shapes.shape_of(plan)


adoption.register_version_source("dag", _version)
adoption.register_adopter("dag", _adopter)
