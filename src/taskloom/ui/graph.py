"""A run's graph as the dashboard draws it: grouped, laid out in layers, SVG-ready.

Why a layout of our own: a run's graph is a DAG whose nodes already come
in a topological order, so a layered (Sugiyama-style) drawing needs only
longest-path layers and a barycenter pass to untangle each layer -- a
screen of code, linear in nodes + edges, with no system binary (Graphviz)
or unmaintained package (grandalf) to install.

What is drawn, per style:

* **DAG / flow**: the edges recorded for the run's workflow version
  (:mod:`taskloom.core.shapes`).
  A ``fan_out``'s calls (``collector[i]``) are one node with counts; when a
  graph is still too large to read, calls of one task (``add#0``,
  ``add#1`` ...) in one layer become one node, then whole layers do.
* **steps**: each executed step in order, its operations beside it.

Each drawn node knows the task keys it stands for, so a live page recolours
it from the tasks' statuses alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from taskloom.core.graph import execution_levels
from taskloom.journal.records import TaskRecord, TaskStatus

#: Drawn nodes above which same-named calls in a layer are grouped.
MAX_NODES = 120
#: What joins a group's name and its size ("add" and 12 calls).
TIMES = "\u00d7"
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 168, 40, 56, 14, 12
#: Room above the first row for edges that arc over skipped layers.
TOP = 40

_FAN_OUT = re.compile(r"^(?P<collector>.+)\[(?P<index>\d+)\]$", re.DOTALL)
_FLOW_CALL = re.compile(r"^(?P<name>.+)#\d+$", re.DOTALL)
_NUMBERED = re.compile(r"^(?P<name>.*?)[-_.:]?\d+$", re.DOTALL)
_STEP = re.compile(r"^s(\d+):(.*)$", re.DOTALL)
_OP = re.compile(r"^s(\d+)\.(\d+)#[0-9a-f]+:(.*)$", re.DOTALL)


@dataclass(slots=True)
class Node:
    node_id: str
    label: str
    members: list[str]
    status: str = TaskStatus.PENDING
    counts: dict[str, int] = field(default_factory=dict)
    x: float = 0.0
    y: float = 0.0

    @property
    def grouped(self) -> bool:
        return len(self.members) > 1


@dataclass(slots=True)
class Edge:
    source: str
    target: str
    path: str = ""


@dataclass(slots=True)
class Drawing:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float
    #: task key -> drawn node id.
    node_of: dict[str, str]
    #: The number of task rows it was drawn from (a grown run is redrawn).
    size: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def group_status(statuses: Sequence[str]) -> str:
    """The state a node standing for several tasks is coloured by."""
    present = set(statuses)
    for status in (
        TaskStatus.RUNNING,
        TaskStatus.RETRYING,
        TaskStatus.FAILED,
        TaskStatus.SUSPENDED,
    ):
        if status in present:
            return status
    if present and present <= TaskStatus.TERMINAL:
        for status in (TaskStatus.CANCELLED, TaskStatus.COMPLETED, TaskStatus.SKIPPED):
            if status in present:
                return status
    if TaskStatus.COMPLETED in present:  # some done, the rest waiting: under way
        return TaskStatus.RUNNING
    return TaskStatus.PENDING


def colour(drawing: Drawing, tasks: Sequence[TaskRecord]) -> None:
    """Set each drawn node's status and counts from the tasks' current rows."""
    members: dict[str, list[str]] = {n.node_id: [] for n in drawing.nodes}
    for task in tasks:
        node_id = drawing.node_of.get(task.task_key)
        if node_id is not None:
            members[node_id].append(task.status)
    for node in drawing.nodes:
        statuses = members[node.node_id]
        counts: dict[str, int] = {}
        for s in statuses:
            counts[s] = counts.get(s, 0) + 1
        node.counts = counts
        node.status = group_status(statuses) if statuses else TaskStatus.PENDING


def draw(
    kind: str,
    tasks: Sequence[TaskRecord],
    graph: tuple[list[str], list[list[int]]] | None,
    max_nodes: int = MAX_NODES,
) -> Drawing:
    """The drawing of a run of ``kind`` from its task rows and recorded graph."""
    drawing = _draw_steps(tasks) if kind == "steps" else _draw_graph(tasks, graph, max_nodes)
    colour(drawing, tasks)
    return drawing


# -- DAG and flow ------------------------------------------------------------


def _draw_graph(
    tasks: Sequence[TaskRecord], graph: tuple[list[str], list[list[int]]] | None, max_nodes: int
) -> Drawing:
    keys = [t.task_key for t in tasks]
    deps: dict[str, list[str]] = {}
    if graph is not None:
        nodes, dep_index = graph
        for key, ds in zip(nodes, dep_index, strict=True):
            deps[key] = [nodes[i] for i in ds if 0 <= i < len(nodes)]
    # Groups: name -> members, in row order; every key starts in its own group.
    group_of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    group_deps: dict[str, list[str]] = {}
    for key in keys:
        match = _FAN_OUT.match(key) if key not in deps else None
        if match and match["collector"] in deps:
            collector = match["collector"]
            name = f"{collector}[…]"
            if name not in members:
                members[name] = []
                group_deps[name] = list(deps[collector])
                deps[collector] = [name]
            members[name].append(key)
            group_of[key] = name
        else:
            members.setdefault(key, []).append(key)
            group_of[key] = key
            group_deps.setdefault(key, list(deps.get(key, [])))
    for name in group_deps:
        if name in deps and not name.endswith("[…]"):
            group_deps[name] = deps[name]
    # Dependencies between groups, without self-loops or keys that have no row.
    graph_deps = {
        name: list(dict.fromkeys(d for d in ds if d in members and d != name))
        for name, ds in group_deps.items()
    }
    graph_deps, members = _collapse(graph_deps, members, max_nodes)
    return _layout(graph_deps, members)


def _family(key: str) -> str:
    match = _FLOW_CALL.match(key) or _NUMBERED.match(key)
    return match.group("name") if match and match.group("name") else key


def _collapse(
    deps: dict[str, list[str]], members: dict[str, list[str]], max_nodes: int
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Merge nodes until at most ``max_nodes`` remain: same family in a layer, then layers."""
    if len(deps) <= max_nodes:
        return deps, members
    levels = execution_levels(deps)
    for by_family in (True, False):
        rename: dict[str, str] = {}
        for depth, level in enumerate(levels):
            buckets: dict[str, list[str]] = {}
            for node in level:
                bucket = _family(node.removesuffix("[…]")) if by_family else f"layer {depth + 1}"
                buckets.setdefault(bucket, []).append(node)
            for bucket, nodes in buckets.items():
                if len(nodes) > 1:
                    name = f"{bucket} {TIMES}{sum(len(members[n]) for n in nodes)}"
                    name = f"{name} @{depth}" if name in rename.values() else name
                    for node in nodes:
                        rename[node] = name
        if not rename:
            continue
        new_members: dict[str, list[str]] = {}
        new_deps: dict[str, list[str]] = {}
        for node, ds in deps.items():
            target = rename.get(node, node)
            new_members.setdefault(target, []).extend(members[node])
            bucket_deps = new_deps.setdefault(target, [])
            for d in ds:
                source = rename.get(d, d)
                if source != target and source not in bucket_deps:
                    bucket_deps.append(source)
        deps, members = new_deps, new_members
        if len(deps) <= max_nodes:
            break
        levels = execution_levels(deps)
    return deps, members


def _layout(deps: dict[str, list[str]], members: dict[str, list[str]]) -> Drawing:
    levels = execution_levels(deps)
    position: dict[str, float] = {}
    for level in levels:
        for i, node in enumerate(level):
            position[node] = float(i)
    # One barycenter pass per layer: a node sits near the nodes it waits for.
    for level in levels[1:]:
        level.sort(
            key=lambda n: (
                sum(position[d] for d in deps[n]) / len(deps[n]) if deps[n] else position[n]
            )
        )
        for i, node in enumerate(level):
            position[node] = float(i)
    tallest = max((len(level) for level in levels), default=1)
    nodes: list[Node] = []
    ids: dict[str, str] = {}
    node_of: dict[str, str] = {}
    for depth, level in enumerate(levels):
        offset = (tallest - len(level)) * (NODE_H + GAP_Y) / 2
        for i, name in enumerate(level):
            node_id = f"n{len(nodes)}"
            ids[name] = node_id
            size = len(members[name])
            label = name if size == 1 or TIMES in name else f"{name} {TIMES}{size}"
            drawn = Node(node_id, label, members[name])
            drawn.x = PAD + depth * (NODE_W + GAP_X)
            drawn.y = TOP + offset + i * (NODE_H + GAP_Y)
            nodes.append(drawn)
            for key in members[name]:
                node_of[key] = node_id
    by_id = {n.node_id: n for n in nodes}
    # The top of each layer, for the edges that arc over the layers they skip.
    tops = [TOP + (tallest - len(level)) * (NODE_H + GAP_Y) / 2 for level in levels]
    edges: list[Edge] = []
    for name, ds in deps.items():
        for d in ds:
            edge = Edge(ids[d], ids[name])
            source, target = by_id[edge.source], by_id[edge.target]
            first = round((source.x - PAD) / (NODE_W + GAP_X)) + 1
            last = round((target.x - PAD) / (NODE_W + GAP_X))
            over = min(tops[first:last], default=None)
            edge.path = _curve(source, target, over)
            edges.append(edge)
    width = PAD * 2 + max(1, len(levels)) * (NODE_W + GAP_X) - GAP_X
    height = TOP + PAD + tallest * (NODE_H + GAP_Y) - GAP_Y
    return Drawing(nodes, edges, width, height, node_of, sum(len(m) for m in members.values()))


def _curve(a: Node, b: Node, over: float | None = None) -> str:
    x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
    x2, y2 = b.x, b.y + NODE_H / 2
    if over is not None:
        # A long edge skips layers: up in the gap after its source, along above the
        # nodes between (``over`` is their top), down in the gap before its target.
        top, half = over - 8, GAP_X / 2
        return (
            f"M{x1:.0f},{y1:.0f} C{x1 + half:.0f},{y1:.0f} {x1 + half:.0f},{top:.0f} "
            f"{x1 + GAP_X - 4:.0f},{top:.0f} L{x2 - GAP_X + 4:.0f},{top:.0f} "
            f"C{x2 - half:.0f},{top:.0f} {x2 - half:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        )
    mid = (x1 + x2) / 2
    return f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"


# -- steps -------------------------------------------------------------------


def _draw_steps(tasks: Sequence[TaskRecord]) -> Drawing:
    steps: dict[int, str] = {}
    ops: dict[int, dict[str, list[str]]] = {}
    for task in tasks:
        op = _OP.match(task.task_key)
        if op:
            ops.setdefault(int(op.group(1)), {}).setdefault(op.group(3), []).append(task.task_key)
            continue
        found = _STEP.match(task.task_key)
        if found:
            steps[int(found.group(1))] = task.task_key
    nodes: list[Node] = []
    edges: list[Edge] = []
    node_of: dict[str, str] = {}
    widest = 1
    previous: Node | None = None
    for row, index in enumerate(sorted(set(steps) | set(ops))):
        key = steps.get(index)
        label = f"{index}: {key.split(':', 1)[1]}" if key else f"{index}: (step)"
        step_node = Node(f"n{len(nodes)}", label, [key] if key else [])
        step_node.x, step_node.y = PAD, PAD + row * (NODE_H + GAP_Y)
        nodes.append(step_node)
        if key:
            node_of[key] = step_node.node_id
        if previous is not None:
            edges.append(Edge(previous.node_id, step_node.node_id, _down(previous, step_node)))
        previous = step_node
        column = 1
        for name, keys in ops.get(index, {}).items():
            # Each call is its own node; many calls of one task are one node.
            groups = [keys] if len(keys) > 3 else [[k] for k in keys]
            for group in groups:
                label = name if len(group) == 1 else f"{name} {TIMES}{len(group)}"
                op_node = Node(f"n{len(nodes)}", label, group)
                op_node.x = PAD + column * (NODE_W + GAP_X / 2)
                op_node.y = step_node.y
                nodes.append(op_node)
                for k in group:
                    node_of[k] = op_node.node_id
                column += 1
        widest = max(widest, column)
    width = PAD * 2 + widest * (NODE_W + GAP_X / 2)
    height = PAD * 2 + max(1, len(nodes and {n.y for n in nodes})) * (NODE_H + GAP_Y)
    return Drawing(nodes, edges, width, height, node_of, len(tasks))


def _down(a: Node, b: Node) -> str:
    x = a.x + NODE_W / 2
    return f"M{x:.0f},{a.y + NODE_H:.0f} L{x:.0f},{b.y:.0f}"
