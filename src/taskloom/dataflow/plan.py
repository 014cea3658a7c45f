"""Plan for the dataflow style: nodes are task calls, edges are data.

A node's call is its recorded argument template with every upstream node
replaced by that node's recorded result (decoded afresh, so tasks never
share mutable objects). Its result is recorded with
:mod:`taskloom.dataflow.values` (JSON when exact, tagged pickle otherwise).
The run's result is the flow body's return template resolved the same way,
with ``None`` for nodes that did not complete.

The plan also remembers, in this process only, the exception object each
node last raised, so ``flow.run`` can re-raise the task's own exception type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from taskloom.core import known_types
from taskloom.core.plan import Expansion, Invocation, Plan, PlanNode
from taskloom.dataflow import task_body
from taskloom.dataflow.fanout import FanOuts
from taskloom.dataflow.flow import Flow, FlowBuilder, nodes_in, resolve
from taskloom.dataflow.hooks import middleware
from taskloom.dataflow.result_cache import CacheStore, cache
from taskloom.dataflow.values import decode_value, encode_value
from taskloom.errors import ValueRefusedError
from taskloom.journal.records import TaskRecord, TaskStatus
from taskloom.task import TaskDefinition


class FlowPlan(Plan):
    """One flow run's graph, ready for the scheduler."""

    kind = "flow"

    def __init__(
        self,
        flow: Flow[Any, Any],
        builder: FlowBuilder,
        template: Any,
        *,
        failure_policy: str,
        max_concurrency: int | None,
        default_timeout: float | None = None,
        cache_store: CacheStore | None = None,
    ) -> None:
        self.flow = flow
        #: Where ``cache_ttl`` results live: the run's journal, else this process's LRU.
        self.cache_store: CacheStore = cache_store if cache_store is not None else cache
        self.workflow_name = flow.name
        self.workflow_version = flow.version
        self.failure_policy = failure_policy
        self.stop_on_failure = failure_policy == "fail_fast"
        self.max_concurrency = max_concurrency
        self.builder = builder
        self.template = template
        #: The exception each node's latest attempt raised (this process only).
        self.errors: dict[str, BaseException] = {}
        #: The keyword arguments of the flow body (``get_context().params``).
        self.params: dict[str, Any] = {}
        #: auto_workflow task middleware, fixed for the run when it is planned.
        self._middleware = middleware.registered()
        self._default_timeout = default_timeout
        self.nodes = {}
        self.group_limits = builder.group_limits
        self.fan_outs = FanOuts(builder, self.nodes, self._node)
        self.grows = bool(builder.fan_outs)
        for key, call in builder.calls.items():
            spec = builder.fan_outs.get(key)
            if spec is not None:
                self.nodes[key] = self.fan_outs.collector(key, spec, self.errors)
            else:
                self.nodes[key] = self._node(
                    key, call.node.task, call.node.deps, builder.groups.get(key)
                )
        self._returned = {node.key for node in nodes_in(template)}
        # The body builds its result's structure (a NamedTuple of nodes...) again
        # on every resume, so the classes in it may be rebuilt from the journal.
        known_types.learn_from(template)

    def _node(
        self,
        key: str,
        definition: TaskDefinition[Any, Any],
        deps: tuple[str, ...],
        group: str | None,
    ) -> PlanNode:
        """The plan node of one task call."""
        timeout = definition.timeout if definition.timeout is not None else self._default_timeout
        return PlanNode(
            key=key,
            deps=deps,
            fn=self._body(key, definition),
            is_async=definition.is_async or bool(self._middleware),
            retry=definition.dataflow_retry,
            timeout=timeout,
            priority=definition.priority,
            label=key,
            name=definition.task_id,
            group=group,
        )

    def expand(self, key: str, output: str) -> Sequence[Expansion]:
        return self.fan_outs.expand(key, output)

    def regrow(self, records: Sequence[TaskRecord]) -> None:
        """Re-expand the dynamic fan-outs from recorded results (resuming after a crash).

        ``records`` in row order; expansion is deterministic, so this builds
        the nodes whose rows the crashed run added.
        """
        for record in records:
            if record.status == TaskStatus.COMPLETED and record.output_json is not None:
                self.fan_outs.expand(record.task_key, record.output_json)

    def _body(self, key: str, definition: TaskDefinition[Any, Any]) -> Callable[..., Any]:
        """The node's attempt, inside the registered middleware if there is any."""
        inner = self._plain_body(key, definition)
        if not self._middleware:
            return inner
        if definition.is_async:
            return middleware.wrap_async(inner, definition, self._middleware)
        return middleware.wrap_sync(inner, definition, self._middleware)

    def _plain_body(self, key: str, definition: TaskDefinition[Any, Any]) -> Callable[..., Any]:
        """The node's attempt: the task body, remembering the exception it raised."""
        errors = self.errors
        if definition.run_in == "process" and not definition.is_async:
            from taskloom.dataflow.process import process_body

            inner = process_body(definition, self.cache_store)
        elif definition.is_async:
            inner = task_body.async_body(definition, self.cache_store)

            async def run_async(*args: Any, **kwargs: Any) -> Any:
                errors.pop(key, None)
                try:
                    return await inner(*args, **kwargs)
                except Exception as exc:
                    errors[key] = exc
                    raise

            return run_async
        elif definition.cache_ttl is None and not definition.persist:
            # Nothing to do around the call: no cache lookup, no persistence.
            inner = definition.fn
        else:
            inner = task_body.sync_body(definition, self.cache_store)

        def run(*args: Any, **kwargs: Any) -> Any:
            errors.pop(key, None)
            try:
                return inner(*args, **kwargs)
            except Exception as exc:
                errors[key] = exc
                raise

        return run

    def prepare(self, node: PlanNode, dep_outputs: Mapping[str, str], run_input: str) -> Invocation:
        call = self.builder.calls[node.key]
        try:
            values = {
                dep: decode_value(dep_outputs[dep]) for dep in node.deps if dep in dep_outputs
            }
        except ValueRefusedError as exc:
            raise ValueRefusedError(
                f"task {node.label!r} was not started: the recorded result of one of its "
                f"inputs ({', '.join(node.deps)}) was refused: {exc}"
            ) from None
        args = tuple(resolve(arg, values) for arg in call.args)
        kwargs = {name: resolve(arg, values) for name, arg in call.kwargs.items()}
        return Invocation(args=args, kwargs=kwargs)

    def encode(self, node: PlanNode, invocation: Invocation, value: Any) -> str:
        return encode_value(value, f"task {node.label!r}", allow_pickle=self.pickles(node.key))

    def pickles(self, key: str | None = None) -> bool:
        """Whether node ``key`` (None: the flow's result) opted in to signed pickles."""
        if self.flow.serializer == "pickle":
            return True
        if key is None:
            return any(c.node.task.serializer == "pickle" for c in self.builder.calls.values())
        call = self.builder.calls.get(key)
        return call is not None and call.node.task.serializer == "pickle"

    def awaits_expansion(self, key: str) -> bool:
        return self.fan_outs.awaits(key)

    def result_keys(self) -> Sequence[str]:
        keys = dict.fromkeys(self._returned)
        for children in self.fan_outs.children.values():
            keys.update(dict.fromkeys(children))
        if self.grows:
            # A worker whose copy of the plan missed an expansion learns it from
            # these rows when it finishes the run (it expands, then reads the calls).
            keys.update(dict.fromkeys(self.fan_outs.unexpanded_upstreams()))
        return list(keys)

    def final_output(self, outputs: Mapping[str, str], run_input: str) -> str:
        values = {key: decode_value(outputs[key]) for key in self._returned if key in outputs}
        if self.grows:
            partial = self.fan_outs.partial_results(outputs)
            values.update((key, partial[key]) for key in self._returned if key in partial)
        what = f"flow {self.workflow_name!r}"
        return encode_value(resolve(self.template, values), what, allow_pickle=self.pickles())
