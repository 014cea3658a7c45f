"""The topology of a computation graph: Cloaca's ``graph={...}`` dict, parsed and checked.

Parsed when the ``ComputationGraphBuilder`` is created, so a malformed node
spec (an unknown key, an edge to a node that does not exist, both ``next``
and ``routes``) fails at the line that declares it, naming the graph and
the node.
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from taskloom.errors import WorkflowValidationError

_SPEC_KEYS = ("inputs", "next", "routes")


class GraphDefinitionError(WorkflowValidationError):
    """A computation graph's topology or nodes are inconsistent (a ``ValueError``)."""


class MissingNodeFunctionError(GraphDefinitionError, AttributeError):
    """The topology names a node no ``@node`` function defines (Cloaca: ``AttributeError``)."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node of the topology: its accumulator inputs and where its output goes."""

    name: str
    inputs: tuple[str, ...] = ()
    next: str | None = None
    routes: tuple[tuple[str, str], ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        if self.next is not None:
            return (self.next,)
        return tuple(target for _, target in self.routes)

    @property
    def is_terminal(self) -> bool:
        return self.next is None and not self.routes


def parse_topology(graph_name: str, graph: object) -> dict[str, NodeSpec]:
    if not isinstance(graph, Mapping) or not graph:
        raise GraphDefinitionError(
            f"computation graph {graph_name!r}: graph= must be a non-empty dict of node name "
            f'to node spec, e.g. {{"score": {{}}}}; got {graph!r}'
        )
    specs: dict[str, NodeSpec] = {}
    for name, spec in graph.items():
        where = f"computation graph {graph_name!r}: graph[{name!r}]"
        if not isinstance(name, str) or not name:
            raise GraphDefinitionError(f"{where}: node names must be non-empty str")
        if not isinstance(spec, Mapping):
            raise GraphDefinitionError(f"{where} must be a dict (use {{}} for a terminal node)")
        unknown = sorted(set(spec) - set(_SPEC_KEYS))
        if unknown:
            raise GraphDefinitionError(
                f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; a node spec "
                "takes 'inputs', 'next' and 'routes'"
            )
        inputs = spec.get("inputs", [])
        if not isinstance(inputs, list | tuple) or not all(isinstance(i, str) for i in inputs):
            raise GraphDefinitionError(f"{where}['inputs'] must be a list of accumulator names")
        nxt = spec.get("next")
        routes = spec.get("routes")
        if nxt is not None and routes is not None:
            raise GraphDefinitionError(f"{where} has both 'next' and 'routes'; give one of them")
        if nxt is not None and not isinstance(nxt, str):
            raise GraphDefinitionError(f"{where}['next'] must be a node name (str)")
        pairs: tuple[tuple[str, str], ...] = ()
        if routes is not None:
            if not isinstance(routes, Mapping) or not routes:
                raise GraphDefinitionError(
                    f"{where}['routes'] must be a non-empty dict of route name to node name"
                )
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in routes.items()):
                raise GraphDefinitionError(f"{where}['routes'] must map str route names to str")
            pairs = tuple(routes.items())
        specs[name] = NodeSpec(name, tuple(inputs), nxt, pairs)
    for spec in specs.values():
        for target in spec.targets:
            if target not in specs:
                raise GraphDefinitionError(
                    f"computation graph {graph_name!r}: node {spec.name!r} sends its output to "
                    f"{target!r}, which is not in the topology; add {target!r} to graph="
                )
    return specs


def code_digest(fn: Callable[..., Any]) -> str:
    """A stable hash of what ``fn`` does, for the version of whatever runs it."""
    digest = hashlib.sha256()
    code = getattr(fn, "__code__", None)
    if isinstance(code, types.CodeType):
        _feed(code, digest)
    return digest.hexdigest()[:16]


def _feed(code: types.CodeType, digest: Any) -> None:
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _feed(const, digest)
        elif not isinstance(const, frozenset):
            digest.update(repr(const).encode())
