"""Cloaca's computation graphs: ``ComputationGraphBuilder`` and ``@node``.

A computation graph is a small graph of plain functions that runs inside
one unit of work: invoked by a task (``@task(invokes=graph)``) after its
body, or fired by a reactor when values pushed into its accumulators
satisfy the reactor's mode. Its topology is Cloaca's dict::

    graph={"decide": {"inputs": ["orderbook"], "routes": {"Buy": "buy", "Hold": "log"}},
           "buy": {}, "log": {}}

``inputs`` names accumulators (reactor graphs only), ``next`` a single
downstream node, ``routes`` the downstream node of each route a routing
node may return as ``(route_name, value)``; a node with neither is a
terminal, whose output is the graph's result under the node's name. Only
the chosen branch of a route runs. The topology is checked when the
``with`` block closes, so a typo fails at import, naming the graph.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import inspect
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from taskloom.core import graph as dag_graph
from taskloom.dag.graph_topology import (
    GraphDefinitionError,
    MissingNodeFunctionError,
    NodeSpec,
    code_digest,
    parse_topology,
)
from taskloom.dag.reactor import ReactorSpec, reactor_spec
from taskloom.errors import GraphNodeError

__all__ = [
    "ComputationGraph",
    "ComputationGraphBuilder",
    "GraphDefinitionError",
    "MissingNodeFunctionError",
    "graphs_of_reactor",
    "lookup_graph",
    "node",
]


class ComputationGraph:
    """A validated graph: its topology, node functions and (optional) reactor."""

    def __init__(
        self,
        name: str,
        specs: dict[str, NodeSpec],
        functions: dict[str, Callable[..., Any]],
        reactor: ReactorSpec | None,
    ) -> None:
        self.name = name
        self.specs = specs
        self.functions = functions
        self.reactor = reactor
        self.incoming: dict[str, list[str]] = {n: [] for n in specs}
        for spec in specs.values():
            for target in dict.fromkeys(spec.targets):
                self.incoming[target].append(spec.name)
        cycle = dag_graph.find_cycle(self.incoming)
        if cycle:
            raise GraphDefinitionError(
                f"computation graph {name!r} has a cycle: {' -> '.join(cycle)}; "
                "a graph must flow one way"
            )
        self.order = dag_graph.topological_order(self.incoming)
        self.terminals = [n for n in self.order if specs[n].is_terminal]
        self.version = hashlib.sha256(repr(self.fingerprint()).encode()).hexdigest()[:16]

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the graph's behaviour (feeds the invoking workflow's version)."""
        return {
            "graph": self.name,
            "reactor": None if self.reactor is None else self.reactor.name,
            "nodes": {
                n: [
                    list(s.inputs),
                    s.next,
                    [list(r) for r in s.routes],
                    code_digest(self.functions[n]),
                ]
                for n, s in sorted(self.specs.items())
            },
        }

    def run(
        self, *, context: Any = None, inputs: Mapping[str, Any] | None = None
    ) -> list[tuple[str, Any]]:
        """Run every node once, in order; ``(terminal, output)`` of the terminals that ran.

        A trigger-less graph's entry nodes receive ``context``; an entry node
        with ``inputs`` receives each named accumulator's value (``None`` if
        nothing was pushed to it yet); a downstream node receives what its
        upstream nodes sent it. A node that raises stops the graph with a
        :class:`GraphNodeError` naming the graph and the node.
        """
        values = dict(inputs or {})
        delivered: dict[str, dict[str, Any]] = {n: {} for n in self.specs}
        fired: list[tuple[str, Any]] = []
        for name in self.order:
            spec = self.specs[name]
            sources = self.incoming[name]
            if sources and not delivered[name]:
                continue  # on a branch that was not taken
            args: list[Any] = [values.get(i) for i in spec.inputs]
            args += [delivered[name][s] for s in sources if s in delivered[name]]
            if not sources and not spec.inputs and self.reactor is None:
                args = [context]
            value = self._call(name, args)
            if spec.is_terminal:
                fired.append((name, value))
            elif spec.next is not None:
                delivered[spec.next][name] = value
            else:
                route, payload = self._route(name, spec, value)
                delivered[route][name] = payload
        return fired

    def _call(self, name: str, args: list[Any]) -> Any:
        try:
            value = self.functions[name](*args)
            if inspect.isawaitable(value):
                value = asyncio.run(_awaited(value))
        except Exception as exc:
            raise GraphNodeError(
                f"computation graph {self.name!r}: node {name!r} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return value

    def _route(self, name: str, spec: NodeSpec, value: Any) -> tuple[str, Any]:
        routes = dict(spec.routes)
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)):
            raise GraphNodeError(
                f"computation graph {self.name!r}: routing node {name!r} must return a "
                f"(route_name, value) tuple, got {type(value).__name__}; "
                f"routes: {', '.join(map(repr, routes))}"
            )
        if value[0] not in routes:
            raise GraphNodeError(
                f"computation graph {self.name!r}: routing node {name!r} returned route "
                f"{value[0]!r}, which is not one of its routes: {', '.join(map(repr, routes))}"
            )
        return routes[value[0]], value[1]

    def __repr__(self) -> str:
        return f"<ComputationGraph {self.name!r} nodes={len(self.specs)}>"


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


# --------------------------------------------------------------------------- registry

_lock = threading.Lock()
_graphs: dict[str, ComputationGraph] = {}
_open: contextvars.ContextVar[tuple[ComputationGraphBuilder, ...]] = contextvars.ContextVar(
    "taskloom_open_graph_builders", default=()
)


def lookup_graph(name: str) -> ComputationGraph | None:
    """The graph registered under ``name`` (its builder's ``with`` block ran)."""
    with _lock:
        return _graphs.get(name)


def graphs_of_reactor(reactor_name: str) -> list[ComputationGraph]:
    """Every registered graph that the reactor ``reactor_name`` fires."""
    with _lock:
        return [
            g for g in _graphs.values() if g.reactor is not None and g.reactor.name == reactor_name
        ]


def node(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Declare a node function of the innermost open ``ComputationGraphBuilder``.

    The function's name is the node's name in the topology; it is returned
    unchanged, so it can still be called directly (in tests, say).
    """
    stack = _open.get()
    if not stack:
        raise ValueError(
            "@cloaca.node must be used inside a ComputationGraphBuilder context manager: "
            "put it in the builder's `with` block"
        )
    if not callable(fn) or not isinstance(getattr(fn, "__name__", None), str):
        raise TypeError(f"@node must decorate a function, got {fn!r}")
    stack[-1]._functions[fn.__name__] = fn
    return fn


class ComputationGraphBuilder:
    """Cloaca's ``ComputationGraphBuilder(name, graph={...}, reactor=None)``.

    Used as a context manager around the ``@node`` functions; the graph is
    validated and registered when the block closes. ``reactor`` is a
    ``@reactor`` class; without one the graph is trigger-less and can only
    be invoked by a task (``@task(invokes=builder)``).
    """

    def __init__(
        self,
        name: str,
        *,
        graph: Mapping[str, Any],
        reactor: Any = None,
        react: Any = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"ComputationGraphBuilder name={name!r}: give a non-empty str")
        if react is not None:
            raise ValueError(
                "ComputationGraphBuilder no longer accepts the bundled `react={...}` kwarg. "
                "Declare a `@cloaca.reactor` class and pass `reactor=YourReactor`, or omit "
                "`reactor` entirely for a trigger-less graph invoked by @cloaca.task(invokes=...)"
            )
        self.name = name
        self._reactor = None if reactor is None else reactor_spec(reactor)
        self._specs = parse_topology(name, graph)
        self._functions: dict[str, Callable[..., Any]] = {}
        self._token: contextvars.Token[tuple[ComputationGraphBuilder, ...]] | None = None
        self.graph: ComputationGraph | None = None

    @property
    def NAME(self) -> str:
        """The graph's name (Cloaca's handle attribute)."""
        return self.name

    @property
    def is_reactor_triggered(self) -> bool:
        return self._reactor is not None

    def __enter__(self) -> ComputationGraphBuilder:
        self._token = _open.set((*_open.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _open.reset(self._token)
            self._token = None
        if exc_type is None:
            self.graph = self._build()
            with _lock:
                _graphs[self.name] = self.graph
            if self.graph.reactor is not None:
                import taskloom.dag.reactor_runs  # noqa: F401 - resumes reactor runs after a crash

    def _build(self) -> ComputationGraph:
        for name in self._specs:
            if name not in self._functions:
                raise MissingNodeFunctionError(
                    f"computation graph '{self.name}' topology references node '{name}' but no "
                    f"@cloaca.node function with that name was defined; define `def {name}(...)` "
                    "with @node inside the builder's `with` block"
                )
        for fn_name in self._functions:
            if fn_name not in self._specs:
                raise GraphDefinitionError(
                    f"function '{fn_name}' was decorated with @cloaca.node but does not appear in "
                    f"the graph topology of computation graph '{self.name}'; add it to graph= or "
                    "remove @node"
                )
        for spec in self._specs.values():
            if spec.inputs and self._reactor is None:
                raise GraphDefinitionError(
                    f"trigger-less computation graph '{self.name}': node '{spec.name}' declares "
                    f"cache inputs={list(spec.inputs)}, but trigger-less graphs have no "
                    "accumulator inputs. Either remove the inputs (graph receives data through "
                    "the task context) or bind a reactor with `reactor=YourReactor`."
                )
            if self._reactor is not None:
                for name in spec.inputs:
                    if name not in self._reactor.accumulators:
                        raise GraphDefinitionError(
                            f"computation graph '{self.name}': node '{spec.name}' references "
                            f"cache input '{name}' which is not in reactor "
                            f"'{self._reactor.name}' accumulators "
                            f"{list(self._reactor.accumulators)}"
                        )
        return ComputationGraph(self.name, dict(self._specs), dict(self._functions), self._reactor)

    def execute(self, inputs: Mapping[str, Any] | None = None) -> Any:
        """Run the graph here and now with accumulator values ``inputs`` (Cloaca's direct call).

        Returns the output of the last terminal that ran (``None`` if none ran).
        Nothing is journaled: push values through a runner (``runner.push``)
        for durable, recorded runs.
        """
        if self.graph is None:
            raise ValueError(
                f"graph '{self.name}' not built yet — call execute after the 'with' block exits"
            )
        fired = self.graph.run(inputs=inputs or {}, context=inputs or {})
        return fired[-1][1] if fired else None

    def __repr__(self) -> str:
        return f"ComputationGraphBuilder(name='{self.name}', nodes={len(self._specs)})"


def resolve_invoked(task_id: str, invokes: Any) -> ComputationGraph:
    """The trigger-less graph ``@task(invokes=...)`` names, or a ``ValueError`` saying why not."""
    if isinstance(invokes, ComputationGraphBuilder | ComputationGraph):
        name = invokes.name
    else:
        raise ValueError(
            f"@cloaca.task(invokes=...): expected a ComputationGraphBuilder instance (must "
            f"expose a `NAME` attribute), got {invokes!r}; task {task_id!r}"
        )
    graph = lookup_graph(name)
    if graph is None:
        raise ValueError(
            f"@cloaca.task(invokes=...): graph '{name}' is not registered. The `with "
            "ComputationGraphBuilder(...)` block must run before the @cloaca.task decorator "
            f"that references it (task {task_id!r})."
        )
    if graph.reactor is not None:
        raise ValueError(
            f"@cloaca.task(invokes=...): graph '{name}' is reactor-triggered. Tasks may only "
            "invoke trigger-less graphs (omit `reactor=...` on the ComputationGraphBuilder); "
            f"task {task_id!r}"
        )
    return graph
