"""Layer 2, planning: what the scheduler runs, independent of authoring style.

A :class:`Plan` is a graph of :class:`PlanNode` plus the style-specific rules
for turning upstream outputs into a node's call and a node's return value
into a recorded (JSON) output. The scheduler knows nothing else, which is
what lets the DAG, dataflow and step styles share one engine and journal.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from taskloom.retry import RetryPolicy

if TYPE_CHECKING:
    from taskloom.journal.records import TaskRecord


class TriggerRule(Protocol):
    """What the scheduler asks of a node's gate (Cloaca's trigger rules implement it)."""

    def evaluate(self, outcomes: Mapping[str, str], context: Any) -> bool: ...

    def referenced_tasks(self) -> Iterable[str]: ...


@dataclass(slots=True)
class PlanNode:
    """One schedulable unit: a task call with its options resolved."""

    key: str
    deps: tuple[str, ...]
    fn: Callable[..., Any]
    is_async: bool
    retry: RetryPolicy
    timeout: float | None = None
    priority: int = 0
    trigger_rule: TriggerRule | None = None
    handle_parameter: str | None = None
    on_success: Callable[..., Any] | None = None
    on_failure: Callable[..., Any] | None = None
    label: str = ""
    #: The task's name when the label is more than that (a flow's "add#0" is task "add").
    name: str = ""
    #: A concurrency group of the run (a ``fan_out`` with ``max_concurrency``): at most
    #: ``Plan.group_limits[group]`` of its nodes run at once. ``None`` on the hot path.
    group: str | None = None


@dataclass(slots=True)
class Expansion:
    """Nodes a plan adds while it runs (a dynamic ``fan_out``), see :meth:`Plan.expand`.

    ``nodes`` depend only on nodes that already exist; ``collector``, if given,
    is an existing unfinished node whose ``deps`` the plan has extended with
    every new node, so it waits for all of them.
    """

    nodes: list[PlanNode]
    collector: str | None = None


@dataclass(slots=True)
class Invocation:
    """Everything needed to call a node's function once."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: What the style shows callbacks and uses to build the output.
    state: Any = None


class Plan(ABC):
    """A runnable graph for one run, produced by an authoring style."""

    #: Run kind recorded in the journal ("dag", "flow", ...); picks the planner on recovery.
    kind: str
    workflow_name: str
    workflow_version: str
    #: Nodes in a topological order.
    nodes: dict[str, PlanNode]
    #: Cancel the rest of the run as soon as one node fails for good (dataflow fail_fast).
    stop_on_failure: bool = False
    #: Whether ``workflow_timeout`` / ``task_timeout`` may be set on runs of this plan (a
    #: step run stopped by a deadline would leave its children and waiting parent behind).
    accepts_time_limits: bool = True
    #: Whether a worker's own ``task_timeout`` applies to nodes that set none (Cloaca's
    #: ``task_timeout_seconds`` is a runner setting; flows take their run's default only).
    worker_task_timeout_applies: bool = False
    #: Whether a run of this plan may have a parent waiting for its end (child workflows).
    may_have_parent: bool = False
    #: A concurrency limit of this run's own, instead of the engine's shared slots.
    max_concurrency: int | None = None
    #: Limit of each ``PlanNode.group``; a grouped node takes a group permit before a slot.
    group_limits: Mapping[str, int] = MappingProxyType({})
    #: True if :meth:`expand` may add nodes; the scheduler asks only plans that grow.
    grows: bool = False
    #: True if the graph depends on the workflow version alone (not on the run's input):
    #: it is then recorded once per version without being hashed per run (core/shapes.py).
    fixed_graph: bool = False

    @abstractmethod
    def prepare(self, node: PlanNode, dep_outputs: Mapping[str, str], run_input: str) -> Invocation:
        """Build the call of ``node`` from its completed dependencies' JSON outputs."""

    @abstractmethod
    def encode(self, node: PlanNode, invocation: Invocation, value: Any) -> str:
        """Turn the function's return value into the JSON text to record.

        Raise ``TypeError`` naming the task when the value cannot be recorded.
        """

    @abstractmethod
    def final_output(self, outputs: Mapping[str, str], run_input: str) -> str:
        """The run's result, as JSON text, from the completed nodes' outputs."""

    def result_keys(self) -> Sequence[str]:
        """The nodes whose outputs :meth:`final_output` reads.

        A distributed worker fetches only these rows to finish a run; the
        default (every node) is always right, a plan may narrow it.
        """
        return list(self.nodes)

    def initial_records(self, run_id: str) -> Sequence[TaskRecord]:
        """Rows recorded with the run when it is created, besides its nodes (none by default).

        Written in the same transaction as the run, so they exist whenever the run does
        (a child step run records its parent this way).
        """
        return ()

    def child_runs(self) -> Sequence[str]:
        """Runs this run has started (a step workflow's children), cancelled with it.

        Read when the run is cancelled, so it may read the journal; none by default.
        """
        return ()

    def awaits_expansion(self, key: str) -> bool:
        """True if node ``key`` waits for nodes that :meth:`expand` has not added yet.

        Only a plan that grows says so: a distributed worker whose cached plan
        lags behind the run (another worker's completion grew it) re-plans the
        run before it runs such a node.
        """
        return False

    def skipped_output(self, node: PlanNode, invocation: Invocation) -> str | None:
        """What a node whose trigger rule is false passes on to its dependents.

        ``None`` (the default): nothing, and its dependents without a rule of
        their own are skipped too. A plan may return JSON text instead (the DAG
        style passes the node's input context on): the skipped node then counts
        as ended for its dependents, which receive that text as its output.
        """
        return None

    def callback_state(self, invocation: Invocation, output: str | None) -> Any:
        """What ``on_success``/``on_failure`` receive as their context argument."""
        return invocation.state

    def expand(self, key: str, output: str) -> Sequence[Expansion]:
        """Node ``key`` completed with ``output``: the nodes that now join the plan, if any.

        Called only when :attr:`grows` is true, once per completion, before the
        completion is committed (the new nodes' rows ride in the same commit).
        The plan adds the new nodes to :attr:`nodes` itself. It must be
        deterministic in ``output``: after a crash the planner calls it again
        with the recorded outputs to rebuild the same nodes, whose recorded
        rows the scheduler then adopts; a distributed worker that did not make
        the expansion rebuilds it the same way. It must also be idempotent: a
        second call for the same ``key`` adds nothing.

        Each new node depends on ``key`` alone, so it is ready as soon as that
        completion is committed: that is what lets a distributed worker insert
        the new rows as claimable in the completion's own transaction.
        """
        return ()
