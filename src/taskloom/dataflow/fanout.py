"""Dynamic ``fan_out``: a flow's graph grows when an upstream result is known.

``fan_out(task, node)`` records one node, the *collector*, standing for the
list of results. When ``node`` completes, :meth:`FanOuts.expand` decodes its
result once and creates one call per item, keyed ``"<collector>[<i>]"``
(``fetch#2[0]``, ``fetch#2[1]``...). The collector then waits for all of
them and returns their results in item order; its own body does nothing
else, so it never runs the task.

Expansion depends only on the recorded upstream result, so after a crash the
flow planner re-runs it from the journal and gets the same keys; the
scheduler then adopts the recorded rows of those calls (a completed call is
not run again).

An upstream result that is not iterable cannot be expanded: the collector
fails with a ``TypeError`` naming the fan-out, its upstream and the type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from taskloom.core.plan import Expansion, PlanNode
from taskloom.dataflow.flow import Call, FanOutSpec, FlowBuilder, Node
from taskloom.dataflow.values import decode_value
from taskloom.retry import RetryPolicy
from taskloom.task import TaskDefinition

#: Builds the plan node of one call: (key, task, deps, concurrency group).
MakeNode = Callable[[str, TaskDefinition[Any, Any], tuple[str, ...], str | None], PlanNode]


class FanOuts:
    """The dynamic fan-outs of one flow plan, and the calls they added so far."""

    def __init__(
        self, builder: FlowBuilder, nodes: dict[str, PlanNode], make_node: MakeNode
    ) -> None:
        self._builder = builder
        self._nodes = nodes
        self._make_node = make_node
        #: Collector keys waiting for each upstream node (a result may fan out twice).
        self._by_upstream: dict[str, list[str]] = {}
        for key, spec in builder.fan_outs.items():
            self._by_upstream.setdefault(spec.upstream, []).append(key)
        #: Keys of the calls each expanded collector waits for, in item order.
        self.children: dict[str, list[str]] = {}
        #: Why a collector could not expand (its upstream result is not iterable).
        self.errors: dict[str, TypeError | ValueError] = {}
        #: Most calls one fan-out may add (the ``max_dynamic_tasks`` setting); None: no limit.
        self.limit: int | None = None

    def collector(self, key: str, spec: FanOutSpec, errors: dict[str, BaseException]) -> PlanNode:
        """The plan node of collector ``key``: it returns its calls' results as a list.

        It is async so that collecting costs no trip to the thread pool, and
        it has a single attempt: retrying could not change its outcome.
        """
        failures = self.errors

        async def collect(results: list[Any]) -> list[Any]:
            failure = failures.get(key)
            if failure is not None:
                errors[key] = failure
                raise failure
            return results

        return PlanNode(
            key=key,
            deps=(spec.upstream,),
            fn=collect,
            is_async=True,
            retry=RetryPolicy.single(),
            label=key,
            name=spec.task.task_id,
        )

    def expand(self, key: str, output: str) -> list[Expansion]:
        """Node ``key`` completed: the calls of every fan-out over it (once each)."""
        waiting = self._by_upstream.get(key)
        if not waiting:
            return []
        expansions = []
        for collector in waiting:
            if collector in self.children or collector in self.errors:
                continue  # already expanded: expansion happens once per run
            expansions.append(self._expand_one(collector, output))
        return expansions

    def awaits(self, collector: str) -> bool:
        """True if ``collector`` is a fan-out this plan has not expanded yet.

        A distributed worker's cached plan may lag behind the run: another
        worker expanded the fan-out in the commit that recorded its upstream.
        Running the collector from such a plan would return the empty list.
        """
        return (
            collector in self._builder.fan_outs
            and collector not in self.children
            and collector not in self.errors
        )

    def unexpanded_upstreams(self) -> list[str]:
        """The upstream nodes of the fan-outs this plan has not expanded yet."""
        specs = self._builder.fan_outs
        return list(dict.fromkeys(specs[key].upstream for key in specs if self.awaits(key)))

    def _expand_one(self, collector: str, output: str) -> Expansion:
        spec = self._builder.fan_outs[collector]
        try:
            value = decode_value(output)
        except Exception as exc:
            self.errors[collector] = TypeError(
                f"fan_out({spec.task.task_id!r}) over {spec.upstream}: its recorded result "
                f"cannot be read back ({type(exc).__name__}: {exc})"
            )
            return Expansion([], None)
        try:
            items = list(value)
        except TypeError:
            self.errors[collector] = TypeError(
                f"fan_out({spec.task.task_id!r}) over {spec.upstream}: that task returned "
                f"{type(value).__name__}, which is not iterable; it must return a list "
                "(or another iterable) of the items to fan out over"
            )
            return Expansion([], None)
        if self.limit is not None and len(items) > self.limit:
            self.errors[collector] = ValueError(
                f"fan_out({spec.task.task_id!r}) over {spec.upstream}: {len(items)} items, more "
                f"than max_dynamic_tasks={self.limit}; raise the setting (max_dynamic_tasks in "
                "[tool.taskloom], or $TASKLOOM_MAX_DYNAMIC_TASKS) or fan out over fewer items"
            )
            return Expansion([], None)
        calls = self._builder.calls
        children: list[Node] = []
        added: list[PlanNode] = []
        deps = (spec.upstream,)
        for i, item in enumerate(items):
            child = Node(self._builder, f"{collector}[{i}]", spec.task, deps)
            calls[child.key] = Call(child, (item,), {})
            node = self._make_node(child.key, spec.task, deps, spec.group)
            self._nodes[child.key] = node
            children.append(child)
            added.append(node)
        calls[collector].args = (children,)
        keys = [child.key for child in children]
        self._nodes[collector].deps = (spec.upstream, *keys)
        self.children[collector] = keys
        return Expansion(added, collector)

    def partial_results(self, outputs: Mapping[str, str]) -> dict[str, list[Any]]:
        """Lists for expanded collectors that did not complete (a call failed).

        The flow's result then shows what did complete, ``None`` elsewhere,
        like a static fan-out's list of nodes would.
        """
        return {
            collector: [decode_value(outputs[k]) if k in outputs else None for k in keys]
            for collector, keys in self.children.items()
            if collector not in outputs
        }
