"""Which plan a distributed worker uses for a claimed task.

A DAG workflow has one plan per (name, version), built once when the
worker starts. A flow's (or a step workflow's) graph depends on the run's
inputs, so its plan is built per run, from the run record, by the planner
registered for the run's kind -- the same planner that resumes a local run
after a crash (the flow planner re-runs the body with the recorded inputs
and checks it builds the recorded nodes). Those plans are cached per run
and evicted when the worker sees the run end, or when the cache is full
(least recently used first): rebuilding one is always correct, just slower.

A plan that grows (a dynamic ``fan_out``) may lag behind its run: another
worker expanded a fan-out in the commit that recorded its upstream. It is
rebuilt (the planner re-expands from the recorded results) when a claim
names a row it does not know, or a collector it has not expanded -- the only
claims such a lag would make run wrongly. The worker that expands a plan
itself refreshes its shape (:meth:`Shape.refresh`); a run's end catches up
on what the plan missed (:mod:`taskloom.distributed.growth`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from taskloom.core import graph
from taskloom.core.plan import Plan
from taskloom.core.styles import PlanHost, planner_for
from taskloom.errors import ValueRefusedError
from taskloom.journal.queue_records import ClaimedTask, FinishedCount, workflow_key
from taskloom.journal.records import RunRecord, RunStatus

logger = logging.getLogger("taskloom")

#: Per-run plans kept at most; a worker touching more runs than this re-plans some.
MAX_CACHED_RUNS = 512


@dataclass(slots=True)
class Shape:
    """A plan with what the worker derives from it once: dependents and result rows."""

    plan: Plan
    dependents: dict[str, list[str]]
    result_keys: list[str]

    @classmethod
    def of(cls, plan: Plan) -> Shape:
        dependents = graph.dependents_of({k: n.deps for k, n in plan.nodes.items()})
        return cls(plan, {k: list(v) for k, v in dependents.items()}, list(plan.result_keys()))

    def refresh(self) -> None:
        """The plan grew: derive its dependents and result rows again, in place.

        In place, because completions waiting for the group commit hold this
        shape. Linear in the plan's size, once per expansion.
        """
        fresh = Shape.of(self.plan)
        self.dependents = fresh.dependents
        self.result_keys = fresh.result_keys


class RunPlans:
    """Static shapes of DAG workflows plus a per-run cache for the other kinds."""

    def __init__(
        self,
        static: Iterable[Plan],
        per_run: Sequence[tuple[str, str, str]],
        host: PlanHost,
    ) -> None:
        """``per_run``: the (kind, name, version) of runs planned per run."""
        self._static = {
            workflow_key(p.workflow_name, p.workflow_version, p.kind): Shape.of(p) for p in static
        }
        self._per_run_keys = {workflow_key(n, v, k) for k, n, v in per_run}
        self._host = host
        self._runs: OrderedDict[str, Shape] = OrderedDict()
        #: Why a run's recorded inputs were refused (the worker fails the run with it).
        self.refused: dict[str, str] = {}

    @property
    def claim_keys(self) -> list[str]:
        """Every workflow key this worker can plan (what its claims filter on)."""
        return sorted(set(self._static) | self._per_run_keys)

    def for_claim(self, claim: ClaimedTask) -> Shape | None:
        """The shape to run ``claim`` with; None if this worker cannot plan its run."""
        key = workflow_key(claim.workflow_name, claim.workflow_version, claim.kind)
        static = self._static.get(key)
        if static is not None:
            return static
        shape = self._runs.get(claim.run_id)
        if shape is not None and shape.plan.grows and _lags(shape.plan, claim.task_key):
            shape = None
        if shape is None:
            plan = self._plan(
                claim.run_id,
                claim.kind,
                claim.workflow_name,
                claim.workflow_version,
                claim.input_json,
            )
            if plan is None:
                return None
            shape = Shape.of(plan)
            self._runs[claim.run_id] = shape
            while len(self._runs) > MAX_CACHED_RUNS:
                self._runs.popitem(last=False)
        self._runs.move_to_end(claim.run_id)
        return shape

    def for_run(self, finished: FinishedCount) -> Shape | None:
        """The shape of a run this worker ends without a claim of it (one it stops at its
        deadline); None if it cannot plan it."""
        key = workflow_key(finished.workflow_name, finished.workflow_version, finished.kind)
        static = self._static.get(key)
        if static is not None:
            return static
        shape = self._runs.get(finished.run_id)
        if shape is not None and not shape.plan.grows:
            return shape
        plan = self._plan(
            finished.run_id,
            finished.kind,
            finished.workflow_name,
            finished.workflow_version,
            finished.input_json,
        )
        return Shape.of(plan) if plan is not None else None

    def cached(self, run_id: str) -> Shape | None:
        return self._runs.get(run_id)

    def forget(self, run_id: str) -> None:
        """The run ended: its plan is not needed any more."""
        self._runs.pop(run_id, None)

    def _plan(
        self, run_id: str, kind: str, name: str, version: str, input_json: str
    ) -> Plan | None:
        planner = planner_for(kind)
        if planner is None:
            return None
        run = RunRecord(
            run_id=run_id,
            workflow_name=name,
            workflow_version=version,
            kind=kind,
            status=RunStatus.RUNNING,
            input_json=input_json,
            created_at=0.0,
        )
        try:
            return planner(run, self._host)
        except ValueRefusedError as exc:
            # Nothing of the run is loaded: the worker fails it with this reason.
            self.refused[run_id] = str(exc)
            while len(self.refused) > MAX_CACHED_RUNS:
                del self.refused[next(iter(self.refused))]
            return None
        except Exception:
            logger.exception("could not plan run %s of %r", run_id, name)
            return None


def _lags(plan: Plan, key: str) -> bool:
    """Whether a growing plan is too old to run node ``key`` of its run.

    No query: a node the plan does not know was added by an expansion it
    missed, and a collector it has not expanded would run without its calls
    (re-planning is then right, or, if the upstream never completed, merely
    redundant). Any other node runs the same from a lagging plan.
    """
    return key not in plan.nodes or plan.awaits_expansion(key)
