"""Graph algorithms shared by every authoring style.

Kept free of task types: a graph here is just ``{node: dependencies}`` in
declaration order, and every function is linear in nodes + edges.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence


def dependents_of(deps: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Invert ``node -> dependencies`` into ``node -> dependents`` (declaration order)."""
    out: dict[str, list[str]] = {node: [] for node in deps}
    for node, node_deps in deps.items():
        for dep in node_deps:
            out[dep].append(node)
    return out


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm; ties keep declaration order. Raises ``ValueError`` on a cycle."""
    remaining = {node: len(set(node_deps)) for node, node_deps in deps.items()}
    dependents = dependents_of({n: list(dict.fromkeys(d)) for n, d in deps.items()})
    queue = deque(node for node, count in remaining.items() if count == 0)
    order: list[str] = []
    while queue:
        node = queue.popleft()
        order.append(node)
        for child in dependents[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                queue.append(child)
    if len(order) != len(deps):
        cycle = find_cycle(deps)
        raise ValueError("cycle between tasks: " + " -> ".join(cycle))
    return order


def execution_levels(deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Group nodes by longest distance from a root: each level can run in parallel."""
    level: dict[str, int] = {}
    for node in topological_order(deps):
        level[node] = 1 + max((level[d] for d in deps[node]), default=-1)
    levels: list[list[str]] = []
    for node, index in level.items():
        while len(levels) <= index:
            levels.append([])
        levels[index].append(node)
    return levels


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle as a closed path ``[a, b, ..., a]``, or ``[]`` if the graph is acyclic.

    Iterative depth-first search, so deep graphs cannot overflow the stack.
    """
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(deps, white)
    for start in deps:
        if color[start] != white:
            continue
        path: list[str] = [start]
        iters = [iter(deps[start])]
        color[start] = grey
        while iters:
            child = next(iters[-1], None)
            if child is None:
                color[path.pop()] = black
                iters.pop()
                continue
            if child not in color:
                continue
            if color[child] == grey:
                return [*path[path.index(child) :], child]
            if color[child] == white:
                color[child] = grey
                path.append(child)
                iters.append(iter(deps[child]))
    return []


def roots(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes without dependencies."""
    return [node for node, node_deps in deps.items() if not node_deps]


def leaves(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes nothing depends on."""
    return [node for node, children in dependents_of(deps).items() if not children]
