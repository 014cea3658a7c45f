"""How flow runs are adopted by a new version of their flow (see core/adoption.py).

A flow's version hashes its body. Its graph is the recorded call graph:
the new body is run with the run's recorded inputs, and the core compares
the calls it makes with the graph the run started with. Dynamic
``fan_out`` calls are rebuilt from the recorded upstream results, as when
a run is resumed.
"""

from __future__ import annotations

from taskloom.core import adoption, shapes
from taskloom.core.plan import Plan
from taskloom.core.styles import PlanHost
from taskloom.dataflow.flow import lookup_flow
from taskloom.dataflow.runner import plan_flow
from taskloom.dataflow.values import decode_value
from taskloom.journal.records import RunRecord, TaskRecord


def _version(name: str) -> str | None:
    flow = lookup_flow(name)
    return flow.version if flow is not None else None


def _adopter(
    run: RunRecord, host: PlanHost, records: list[TaskRecord]
) -> tuple[Plan, dict[str, list[str]]] | None:
    flow = lookup_flow(run.workflow_name)
    if flow is None:
        return None
    data = decode_value(run.input_json)
    plan = plan_flow(
        flow,
        tuple(data["args"]),
        dict(data["kwargs"]),
        data["failure_policy"],
        data["max_concurrency"],
        host,
    )
    static = shapes.shape_of(plan)
    if plan.grows:
        plan.regrow(sorted(records, key=lambda r: r.seq))
    return plan, static


adoption.register_version_source("flow", _version)
adoption.register_adopter("flow", _adopter)
