"""auto_workflow's dataflow style: ``@flow`` bodies that call tasks.

Running a flow body does not run any task. Each task call inside it is
recorded by a :class:`FlowBuilder` (found through a context variable) and
returns a :class:`Node`; passing a node to another call, anywhere inside
lists, tuples or dict values, or listing it in ``wait_for=[...]``, makes an
edge. Calls that share no data are independent and run concurrently. Each
call costs time proportional to the size of its own arguments, so building
is linear in the size of the flow.

A node's key is ``"<task name>#<n>"``, ``n`` counting that task's calls in
the body. Re-running the same body with the same inputs gives the same keys
in any process, which is how a crashed flow run is rebuilt and resumed.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from taskloom.core import known_types
from taskloom.core.codec import check_serializer
from taskloom.dataflow import artifacts as _artifacts  # noqa: F401  (registers ArtifactRef)
from taskloom.dataflow import flow_actions, flow_context

if TYPE_CHECKING:
    from taskloom.task import TaskDefinition

P = ParamSpec("P")
R = TypeVar("R")

#: How a flow run reacts to a task that failed for good.
FAILURE_POLICIES = ("fail_fast", "continue", "aggregate")


class Node:
    """The future result of one task call inside a flow body.

    It is only a placeholder while the graph is built: pass it to other task
    calls or return it from the flow. Using its value in the body itself
    (``if node:``, ``for x in node``) is an error, because nothing has run yet.
    """

    __slots__ = ("builder", "deps", "key", "task")

    def __init__(
        self, builder: FlowBuilder, key: str, task: TaskDefinition[Any, Any], deps: tuple[str, ...]
    ) -> None:
        self.builder = builder
        self.key = key
        self.task = task
        self.deps = deps

    def __repr__(self) -> str:
        return f"<Node {self.key}>"

    def __bool__(self) -> bool:
        raise TypeError(
            f"the result of {self.key} is not known while the flow is being built; pass the "
            "node to another task instead of testing it in the flow body"
        )

    def __iter__(self) -> Any:
        raise TypeError(
            f"the result of {self.key} is not known while the flow is being built; to map a "
            f"task over it, use fan_out(task, {self.key})"
        )


class Call:
    """A recorded task call: the node plus its argument templates."""

    __slots__ = ("args", "kwargs", "node")

    def __init__(self, node: Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.node = node
        self.args = args
        self.kwargs = kwargs


@dataclass(slots=True, frozen=True)
class FanOutSpec:
    """A dynamic ``fan_out``: map ``task`` over the result of node ``upstream``.

    Its node stands for the list of results; the calls themselves become
    nodes only when ``upstream``'s result is known (see
    :mod:`taskloom.dataflow.fanout`).
    """

    task: TaskDefinition[Any, Any]
    upstream: str
    #: The concurrency group of its calls (``max_concurrency``), or None.
    group: str | None


class FlowBuilder:
    """Collects the calls made while one flow body runs."""

    def __init__(self, flow_name: str) -> None:
        self.flow_name = flow_name
        self.calls: dict[str, Call] = {}
        self._counts: dict[str, int] = {}
        #: Dynamic fan-outs by the key of the node that stands for their list.
        self.fan_outs: dict[str, FanOutSpec] = {}
        #: Concurrency group of each limited static fan-out call, by node key.
        self.groups: dict[str, str] = {}
        #: Limit of each group ("fan_out#<n>", n counting limited fan-outs).
        self.group_limits: dict[str, int] = {}
        #: ``params`` of the run the body does not take (``get_context().params``).
        self.context_params: dict[str, Any] = {}

    def new_group(self, limit: int) -> str:
        """A fresh concurrency group allowing ``limit`` calls at once."""
        name = f"fan_out#{len(self.group_limits)}"
        self.group_limits[name] = limit
        return name

    def add_fan_out(
        self, task: TaskDefinition[Any, Any], upstream: Node, max_concurrency: int | None
    ) -> Node:
        """Record a dynamic fan-out of ``task`` over ``upstream``; its node is the list.

        The node takes the next call number of ``task`` (``fetch#2``), and its
        calls are keyed ``fetch#2[0]``, ``fetch#2[1]``... once they exist, so
        the keys are as deterministic as the upstream result.
        """
        self._check_own(task, upstream)
        n = self._counts.get(task.task_id, 0)
        self._counts[task.task_id] = n + 1
        node = Node(self, f"{task.task_id}#{n}", task, (upstream.key,))
        # Until the upstream result is known the list is empty; expansion
        # replaces the argument with the calls' nodes.
        self.calls[node.key] = Call(node, ([],), {})
        group = self.new_group(max_concurrency) if max_concurrency is not None else None
        self.fan_outs[node.key] = FanOutSpec(task, upstream.key, group)
        return node

    def add_call(
        self, task: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Node:
        """Record ``task(*args, **kwargs)`` and return its node."""
        wait_for = kwargs.pop("wait_for", None)
        deps: dict[str, None] = {}
        self._scan(task, args, deps)
        self._scan(task, kwargs, deps)
        if wait_for is not None:
            if isinstance(wait_for, Node) or not isinstance(wait_for, Iterable):
                wait_for = [wait_for]
            for item in wait_for:
                if not isinstance(item, Node):
                    raise TypeError(
                        f"flow {self.flow_name!r}: task {task.task_id!r} got wait_for item "
                        f"{item!r}; wait_for takes nodes returned by task calls"
                    )
                self._check_own(task, item)
                deps[item.key] = None
        n = self._counts.get(task.task_id, 0)
        self._counts[task.task_id] = n + 1
        node = Node(self, f"{task.task_id}#{n}", task, tuple(deps))
        self.calls[node.key] = Call(node, args, kwargs)
        return node

    def _scan(self, task: TaskDefinition[Any, Any], value: Any, deps: dict[str, None]) -> None:
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, Node):
                self._check_own(task, item)
                deps[item.key] = None
            elif isinstance(item, list | tuple):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                stack.extend(reversed(list(item.values())))

    def _check_own(self, task: TaskDefinition[Any, Any], node: Node) -> None:
        if node.builder is not self:
            raise ValueError(
                f"flow {self.flow_name!r}: task {task.task_id!r} was given {node.key} from "
                "another flow run; nodes only connect calls made in the same flow body"
            )


def resolve(template: Any, values: dict[str, Any]) -> Any:
    """``template`` with every node replaced by ``values[node.key]`` (None if absent)."""
    if isinstance(template, Node):
        return values.get(template.key)
    if isinstance(template, list):
        return [resolve(item, values) for item in template]
    if isinstance(template, tuple):
        items = [resolve(item, values) for item in template]
        # Named tuples are rebuilt from fields, plain tuples from the list.
        return type(template)(*items) if hasattr(template, "_fields") else type(template)(items)
    if isinstance(template, dict):
        return {key: resolve(item, values) for key, item in template.items()}
    return template


def nodes_in(template: Any) -> list[Node]:
    """Every node in ``template``, in order of first appearance."""
    found: dict[str, Node] = {}
    stack = [template]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            found.setdefault(item.key, item)
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return list(found.values())


def fan_out(
    task: TaskDefinition[Any, Any],
    iterable: Iterable[Any] | Node,
    max_concurrency: int | None = None,
) -> Any:
    """Call ``task`` once per item; at most ``max_concurrency`` of these calls run at once.

    Over a concrete iterable (items may be nodes) it returns the list of
    nodes, one per item. Over a node it returns one node standing for the
    list of results: the calls are created when that node's result is known
    (it must be iterable). Either way the limit is a group of its own, so
    other tasks of the run still use the slots the fan-out leaves free.
    Outside a flow the calls simply run one after the other.
    """
    from taskloom.task import TaskDefinition

    if not isinstance(task, TaskDefinition):
        raise TypeError(f"fan_out takes an @task function, got {task!r}")
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise ValueError(f"fan_out max_concurrency={max_concurrency!r}: give an int >= 1 or None")
    builder = flow_context.current_flow_builder()
    if isinstance(iterable, Node):
        if builder is None:
            raise TypeError(f"fan_out({task.task_id!r}, {iterable.key}) outside its flow body")
        return builder.add_fan_out(task, iterable, max_concurrency)
    calls = [task(item) for item in iterable]
    if builder is not None and max_concurrency is not None:
        group = builder.new_group(max_concurrency)
        for call in calls:
            if isinstance(call, Node):
                builder.groups[call.key] = group
    return calls


class Flow(Generic[P, R]):
    """A ``@flow`` function: build its graph with :meth:`build`, run it with :meth:`run`."""

    def __init__(self, fn: Callable[P, R], name: str, serializer: str = "json") -> None:
        if inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"flow {name!r}: a flow body must be a plain def (it only wires task calls "
                "together); make the tasks async instead"
            )
        self.fn = fn
        self.name = name
        code = getattr(fn, "__code__", None)
        digest = hashlib.sha256(code.co_code if code is not None else b"")
        digest.update(name.encode())
        self.version = digest.hexdigest()[:16]
        #: "pickle": the flow's inputs, result and tasks may be recorded as signed pickles.
        self.serializer = serializer
        known_types.note_annotations(fn)
        _flows[name] = self

    def __repr__(self) -> str:
        return f"<flow {self.name!r}>"

    @property
    def build_fn(self) -> Callable[P, R]:
        """auto_workflow's name for the flow's body."""
        return self.fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Calling a flow runs it, like :meth:`run` with the default options."""
        result: R = flow_actions.action("run")(self, args, dict(kwargs), "fail_fast", None, None)
        return result

    def build(self, *args: Any, **kwargs: Any) -> tuple[FlowBuilder, Any]:
        """Run the body with a builder installed: the recorded calls and the returned template."""
        builder = FlowBuilder(self.name)
        if CONTEXT_PARAMS in kwargs:
            kwargs = dict(kwargs)
            builder.context_params = dict(kwargs.pop(CONTEXT_PARAMS))
        token = flow_context.set_flow_builder(builder)
        try:
            template = self.fn(*args, **kwargs)
        finally:
            flow_context.reset_flow_builder(token)
        return builder, template

    def run(
        self,
        *args: Any,
        params: dict[str, Any] | None = None,
        failure_policy: str = "fail_fast",
        max_concurrency: int | None = None,
        db: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the flow to its end, recorded in the journal; returns the body's structure
        with every node replaced by its task's result. ``params`` are extra keyword
        arguments for the body; those its signature does not take are seen only by
        ``get_context().params`` (auto_workflow's meaning of ``params``)."""
        return flow_actions.action("run")(
            self, args, merge_params(self.fn, kwargs, params), failure_policy, max_concurrency, db
        )

    async def run_async(
        self,
        *args: Any,
        params: dict[str, Any] | None = None,
        failure_policy: str = "fail_fast",
        max_concurrency: int | None = None,
        db: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """:meth:`run` for async code: the caller's event loop is never blocked."""
        return await flow_actions.action("run_async")(
            self, args, merge_params(self.fn, kwargs, params), failure_policy, max_concurrency, db
        )

    def submit(
        self,
        *args: Any,
        params: dict[str, Any] | None = None,
        failure_policy: str = "fail_fast",
        db: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Queue a run for distributed workers (PostgreSQL ``db``); returns a
        ``RemoteFlowHandle`` (:mod:`taskloom.dataflow.remote`) at once.

        ``handle.result(timeout)`` returns or raises like :meth:`run`. The
        workers must import this flow's module (``taskloom worker --import``).
        """
        from taskloom.distributed.client import shared_client

        client = shared_client(db)
        return flow_actions.action("submit")(
            client, self, args, merge_params(self.fn, kwargs, params), failure_policy, None
        )

    def describe(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The graph the body builds for these inputs, as JSON-able data (auto_workflow's keys)."""
        builder, _ = self.build(*args, **kwargs)
        result: dict[str, Any] = flow_actions.action("describe")(self.name, builder)
        return result

    def export_dot(self, *args: Any, **kwargs: Any) -> str:
        """The same graph in Graphviz DOT, nodes named as auto_workflow names them."""
        builder, _ = self.build(*args, **kwargs)
        dot: str = flow_actions.action("graph")(builder).to_dot()
        return dot

    def export_graph(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The graph as ``{name: {"upstream": [...], "downstream": [...]}}``."""
        builder, _ = self.build(*args, **kwargs)
        graph: dict[str, Any] = flow_actions.action("graph")(builder).to_dict()
        return graph


#: The keyword under which ``params`` the body does not take ride in a run's recorded
#: keyword arguments (so recovery and workers rebuild the same ``get_context().params``).
CONTEXT_PARAMS = "__taskloom_context_params__"


def merge_params(
    fn: Callable[..., Any], kwargs: dict[str, Any], params: dict[str, Any] | None
) -> dict[str, Any]:
    """``kwargs`` plus ``params``: those the body's signature takes as keywords go to it,
    the others only to ``get_context().params`` (auto_workflow passes none to the body)."""
    if params is None:
        return kwargs
    if not isinstance(params, dict):
        raise TypeError(f"params={params!r} must be a dict of keyword arguments for the flow")
    clash = sorted(set(params) & set(kwargs))
    if clash:
        raise ValueError(f"flow arguments {', '.join(clash)} given both in params and as keywords")
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {**kwargs, **params}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return {**kwargs, **params}
    takes = {
        name
        for name, p in parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    merged = {**kwargs, **{k: v for k, v in params.items() if k in takes}}
    context_only = {k: v for k, v in params.items() if k not in takes}
    if context_only:
        merged[CONTEXT_PARAMS] = context_only
    return merged


_flows: dict[str, Flow[Any, Any]] = {}


def lookup_flow(name: str) -> Flow[Any, Any] | None:
    """The flow defined under ``name`` in this process (used to resume its runs)."""
    return _flows.get(name)


def registered_flows() -> list[Flow[Any, Any]]:
    """Every flow defined in this process (what a worker offers to run)."""
    return list(_flows.values())


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(
    fn: None = None, /, *, name: str | None = None, serializer: str = "json"
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    serializer: str = "json",
) -> Any:
    """Declare a flow. Usable bare (``@flow``) or with a name (``@flow(name="etl")``).

    ``serializer="pickle"``: the flow's inputs, result and every task of it
    may record values the safe codec cannot as signed pickles
    (docs/reliability.md).
    """
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"@flow name={name!r}: give a non-empty str")

    def decorate(func: Callable[..., Any]) -> Flow[Any, Any]:
        if not callable(func):
            raise TypeError(f"@flow must decorate a function, got {type(func).__name__}")
        check_serializer(f"@flow {name or func.__name__!r}", serializer)
        return Flow(func, name if name is not None else func.__name__, serializer)

    if fn is not None:
        return decorate(fn)
    return decorate
