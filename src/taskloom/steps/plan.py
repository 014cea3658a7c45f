"""The step style's plan: one scheduler node, the driver.

Steps are decided at run time by directives, so they cannot be a graph
planned up front. The whole run is one node whose body is the driver; the
driver journals steps and operations itself. This keeps the scheduler,
slots, recovery, cancellation and ``taskloom runs`` working unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskloom.core.plan import Invocation, Plan, PlanNode
from taskloom.journal.records import TaskRecord, TaskStatus
from taskloom.retry import RetryPolicy
from taskloom.steps.children import recorded_children, register_plan_factory
from taskloom.steps.codec import encode_result
from taskloom.steps.journal import DRIVER_KEY, PARENT_KEY, RunWriter, StepHost

# Defined in ``journal`` (below ``remote`` and ``children``); re-exported here, their old home.
from taskloom.steps.journal import KIND as KIND
from taskloom.steps.journal import VERSION as VERSION
from taskloom.steps.replay import StepDriver
from taskloom.steps.workflow import Workflow, lookup_workflow

if TYPE_CHECKING:
    from taskloom.core.styles import PlanHost
    from taskloom.journal.records import RunRecord


class StepPlan(Plan):
    """The plan of one step workflow run."""

    kind = KIND
    fixed_graph = True
    accepts_time_limits = False
    may_have_parent = True

    def __init__(
        self,
        workflow: Workflow,
        workflow_id: str,
        engine: StepHost,
        parent: tuple[str, str] | None = None,
    ) -> None:
        self.workflow = workflow
        #: ``(workflow id, workflow type)`` of the run that starts this one as a child.
        self.parent = parent
        self.workflow_name = workflow.workflow_type
        self.workflow_version = VERSION
        self.workflow_id = workflow_id
        self.engine = engine
        self.driver = StepDriver(
            workflow,
            workflow_id,
            lambda seq: RunWriter(engine, workflow_id, seq),
            engine.journal,
        )
        self.nodes = {
            DRIVER_KEY: PlanNode(
                key=DRIVER_KEY,
                deps=(),
                fn=self._drive,
                is_async=True,
                retry=RetryPolicy.single(),
                label=workflow.workflow_type,
            )
        }

    async def _drive(self, input_json: str) -> Any:
        records = self.engine.journal.get_tasks(self.workflow_id)
        return await self.driver.drive(input_json, records)

    def initial_records(self, run_id: str) -> Sequence[TaskRecord]:
        """A child's parent, recorded with the child run (what ``send_to_parent`` reads)."""
        if self.parent is None:
            return ()
        data = {"parent": self.parent[0], "type": self.parent[1]}
        record = TaskRecord(run_id, PARENT_KEY, TaskStatus.COMPLETED, output_json=json.dumps(data))
        return (record,)

    def prepare(self, node: PlanNode, dep_outputs: Mapping[str, str], run_input: str) -> Invocation:
        return Invocation(args=(run_input,))

    def encode(self, node: PlanNode, invocation: Invocation, value: Any) -> str:
        return encode_result(value, f"workflow {self.workflow_name!r}")

    def final_output(self, outputs: Mapping[str, str], run_input: str) -> str:
        return outputs.get(DRIVER_KEY, "null")

    def result_keys(self) -> Sequence[str]:
        return (DRIVER_KEY,)

    def child_runs(self) -> Sequence[str]:
        """The children the run recorded starting (committed before each child exists)."""
        return recorded_children(self.engine.journal.get_tasks(self.workflow_id))


register_plan_factory(StepPlan)


def step_planner(run: RunRecord, engine: PlanHost) -> StepPlan | None:
    """Rebuild a recorded step run's plan, or None if its workflow is not defined here
    (or the host cannot drive steps)."""
    workflow = lookup_workflow(run.workflow_name)
    if workflow is None or run.workflow_version != VERSION or not isinstance(engine, StepHost):
        return None
    return StepPlan(workflow, run.run_id, engine)
