"""Reactor firings as journaled runs: pushing values and executing the fired graphs.

``DefaultRunner.push(reactor, accumulator, value)`` records the value (see
:mod:`taskloom.journal.reactors`); when the reactor fires, the same
transaction creates one run per graph the reactor feeds (kind
``"reactor"``, named after the graph, its input the accumulators' values).
Those runs are like any other: recorded, resumed after a crash by any
runner that defines the graph, listed by ``taskloom runs``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from taskloom.core.plan import Invocation, Plan, PlanNode
from taskloom.core.styles import PlanHost, register_planner
from taskloom.dag.computation_graph import ComputationGraph, graphs_of_reactor, lookup_graph
from taskloom.dag.context import find_non_json
from taskloom.dag.reactor import ReactorSpec, accumulator_transform, reactor_spec
from taskloom.journal.base import Journal
from taskloom.journal.reactors import Fire, ReactorStore
from taskloom.journal.records import RunRecord, RunStatus, TaskRecord, TaskStatus
from taskloom.retry import RetryPolicy

KIND = "reactor"


class ReactorPlan(Plan):
    """One firing of a reactor for one graph: a single node that runs the graph.

    The run's input is ``{accumulator: value}``; its result is
    ``{terminal node: output}`` of the terminals that ran.
    """

    kind = KIND

    def __init__(self, graph: ComputationGraph) -> None:
        self.graph = graph
        self.workflow_name = graph.name
        self.workflow_version = graph.version
        self.nodes = {
            graph.name: PlanNode(
                key=graph.name,
                deps=(),
                fn=self._fire,
                is_async=False,
                retry=RetryPolicy.single(),
                label=graph.name,
            )
        }

    def _fire(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.graph.run(inputs=inputs))

    def prepare(self, node: PlanNode, dep_outputs: Mapping[str, str], run_input: str) -> Invocation:
        inputs = json.loads(run_input)
        return Invocation(args=(inputs,), state=inputs)

    def encode(self, node: PlanNode, invocation: Invocation, value: Any) -> str:
        try:
            return json.dumps(value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            problem = find_non_json(value, "") or "a value that is not JSON"
            raise TypeError(
                f"computation graph {self.graph.name!r}: a terminal node returned {problem}; "
                "terminal nodes must return JSON values"
            ) from None

    def final_output(self, outputs: Mapping[str, str], run_input: str) -> str:
        return outputs.get(self.graph.name, "{}")


def plan_of(run: RunRecord) -> ReactorPlan | None:
    """The plan of a fired run, if this process defines its graph at that version."""
    graph = lookup_graph(run.workflow_name)
    if run.kind != KIND or graph is None or graph.version != run.workflow_version:
        return None
    return ReactorPlan(graph)


def _planner(run: RunRecord, host: PlanHost) -> ReactorPlan | None:
    return plan_of(run)


register_planner(KIND, _planner)


def push_value(journal: Journal, reactor: Any, accumulator: str, value: Any) -> Fire | None:
    """Record ``value`` in ``accumulator`` of ``reactor``; the firing it caused, if any.

    ``reactor`` is a ``@reactor`` class or its name. The firing's runs are
    created unowned in the same transaction; the caller's runner adopts them.
    """
    spec = _spec(reactor)
    if not isinstance(accumulator, str) or accumulator not in spec.accumulators:
        raise ValueError(
            f"reactor {spec.name!r} has no accumulator {accumulator!r}; its accumulators are "
            f"{', '.join(map(repr, spec.accumulators))}"
        )
    graphs = graphs_of_reactor(spec.name)
    if not graphs:
        raise ValueError(
            f"reactor {spec.name!r} fires no computation graph in this process; declare "
            f"ComputationGraphBuilder(..., reactor=<the {spec.name!r} class>) first, or the "
            "value would be consumed by a firing that runs nothing"
        )
    transform = accumulator_transform(accumulator)
    if transform is not None:
        value = transform(value)
    problem = find_non_json(value, "value")
    if problem is not None:
        raise TypeError(
            f"push({spec.name!r}, {accumulator!r}, ...): {problem} is not JSON; push JSON "
            "values (dict, list, str, number, bool, None)"
        )

    def make_runs(fire_id: str, inputs_json: str) -> list[tuple[RunRecord, list[TaskRecord]]]:
        runs: list[tuple[RunRecord, list[TaskRecord]]] = []
        for graph in graphs:
            run_id = uuid.uuid4().hex
            run = RunRecord(
                run_id=run_id,
                workflow_name=graph.name,
                workflow_version=graph.version,
                kind=KIND,
                status=RunStatus.RUNNING,
                input_json=inputs_json,
                created_at=time.time(),
                owner_id=None,
            )
            runs.append((run, [TaskRecord(run_id, graph.name, TaskStatus.PENDING, seq=0)]))
        return runs

    return ReactorStore(journal).push(
        reactor=spec.name,
        accumulator=accumulator,
        value_json=json.dumps(value, separators=(",", ":")),
        accumulators=spec.accumulators,
        mode=spec.mode,
        make_runs=make_runs,
    )


def fires(journal: Journal, reactor: Any) -> list[Fire]:
    """Every recorded firing of ``reactor`` (a ``@reactor`` class or its name)."""
    return ReactorStore(journal).fires(_name(reactor))


def pending(journal: Journal, reactor: Any) -> dict[str, int]:
    """Values waiting in each accumulator of ``reactor`` for its next firing."""
    return ReactorStore(journal).pending(_name(reactor))


def _name(reactor: Any) -> str:
    return reactor if isinstance(reactor, str) else reactor_spec(reactor).name


def _spec(reactor: Any) -> ReactorSpec:
    if isinstance(reactor, str):
        for graph in graphs_of_reactor(reactor):
            assert graph.reactor is not None
            return graph.reactor
        raise ValueError(
            f"no computation graph in this process is fired by a reactor named {reactor!r}; "
            "pass the @reactor class, or declare its ComputationGraphBuilder first"
        )
    return reactor_spec(reactor)


__all__: Sequence[str] = ["KIND", "ReactorPlan", "fires", "pending", "plan_of", "push_value"]
