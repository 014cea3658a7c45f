"""What a flow would run, without running it: ``describe``, ``export_dot``, ``export_graph``.

Output follows auto_workflow's shapes so tools written for it keep working:

* ``describe`` returns ``flow``, ``nodes`` (the task calls), ``edges``,
  ``count`` (number of calls), ``dynamic_fanouts`` (one entry per
  ``fan_out`` over a node: ``type``, ``task``, ``source``,
  ``max_concurrency``, ``consumers``) and ``dynamic_count``. A node's ``id``
  is its key in the journal (``"add#0"``, what ``taskloom show`` prints);
  ``name`` is auto_workflow's name for the same call (``"add:1"``).
* ``export_dot`` / ``export_graph`` name nodes as auto_workflow does:
  ``"<task>:<n>"`` counting each task's calls from 1, and ``"fanout:<k>"``
  for the k-th dynamic fan-out (drawn as a diamond).

:class:`DAG` is auto_workflow's small graph type (``dag.DAG``), with cycle
detection raising :class:`~taskloom.errors.CycleDetectedError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from taskloom.dataflow import flow_actions
from taskloom.errors import CycleDetectedError

if TYPE_CHECKING:
    from taskloom.dataflow.flow import FlowBuilder


class DAG:
    """Nodes with up- and downstream sets; edges added one by one."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, set[str]]] = {}
        self.attrs: dict[str, dict[str, str]] = {}

    def add_node(self, name: str, **attrs: str) -> None:
        if name not in self.nodes:
            self.nodes[name] = {"upstream": set(), "downstream": set()}
        if attrs:
            self.attrs.setdefault(name, {}).update(attrs)

    def add_edge(self, upstream: str, downstream: str) -> None:
        self.add_node(upstream)
        self.add_node(downstream)
        self.nodes[upstream]["downstream"].add(downstream)
        self.nodes[downstream]["upstream"].add(upstream)

    def topological_sort(self) -> list[str]:
        """Every node after its upstream nodes; ``CycleDetectedError`` if there is a cycle."""
        waiting = {name: len(node["upstream"]) for name, node in self.nodes.items()}
        ready = [name for name, count in waiting.items() if count == 0]
        order: list[str] = []
        while ready:
            name = ready.pop()
            order.append(name)
            for child in sorted(self.nodes[name]["downstream"]):
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        if len(order) != len(self.nodes):
            raise CycleDetectedError(sorted(name for name, count in waiting.items() if count > 0))
        return order

    def subgraph(self, names: Iterable[str]) -> DAG:
        """The nodes in ``names`` and the edges between them."""
        keep = set(names)
        sub = DAG()
        for name in keep:
            if name in self.nodes:
                sub.add_node(name)
                for child in self.nodes[name]["downstream"]:
                    if child in keep:
                        sub.add_edge(name, child)
        return sub

    def to_dot(self) -> str:
        lines = ["digraph G {"]
        for name, node in self.nodes.items():
            attrs = self.attrs.get(name)
            if attrs:
                spelled = ", ".join(f'{key}="{value}"' for key, value in attrs.items())
                lines.append(f'  "{name}" [{spelled}];')
            elif not node["downstream"]:
                lines.append(f'  "{name}";')
            lines.extend(f'  "{name}" -> "{child}";' for child in sorted(node["downstream"]))
        lines.append("}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, dict[str, list[str]]]:
        return {
            name: {"upstream": sorted(node["upstream"]), "downstream": sorted(node["downstream"])}
            for name, node in self.nodes.items()
        }


def auto_workflow_names(builder: FlowBuilder) -> dict[str, str]:
    """auto_workflow's name of every call: ``"<task>:<n>"`` from 1, ``"fanout:<k>"``."""
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    fan_outs = 0
    for key, call in builder.calls.items():
        if key in builder.fan_outs:
            fan_outs += 1
            names[key] = f"fanout:{fan_outs}"
        else:
            task_id = call.node.task.task_id
            counts[task_id] = counts.get(task_id, 0) + 1
            names[key] = f"{task_id}:{counts[task_id]}"
    return names


def describe(flow_name: str, builder: FlowBuilder) -> dict[str, Any]:
    """auto_workflow's ``describe()`` document for a built graph (see the module docstring)."""
    names = auto_workflow_names(builder)
    nodes = []
    dynamic = []
    edges: list[list[str]] = []
    for key, call in builder.calls.items():
        definition = call.node.task
        edges.extend([up, key] for up in call.node.deps)
        spec = builder.fan_outs.get(key)
        if spec is not None:
            dynamic.append(
                {
                    "id": key,
                    "name": names[key],
                    "type": "dynamic_fanout",
                    "task": spec.task.task_id,
                    "source": spec.upstream,
                    "max_concurrency": builder.group_limits.get(spec.group or ""),
                    "consumers": [
                        other for other, c in builder.calls.items() if key in c.node.deps
                    ],
                }
            )
            continue
        nodes.append(
            {
                "id": key,
                "name": names[key],
                "task": definition.task_id,
                "upstream": list(call.node.deps),
                "priority": definition.priority,
                "tags": list(definition.tags),
                "persist": definition.persist,
                "run_in": definition.run_in,
                "retries": definition.retries,
            }
        )
    return {
        "flow": flow_name,
        "nodes": nodes,
        "edges": edges,
        "dynamic_fanouts": dynamic,
        "count": len(nodes),
        "dynamic_count": len(dynamic),
    }


def graph(builder: FlowBuilder) -> DAG:
    """The built graph as a :class:`DAG` under auto_workflow's names."""
    names = auto_workflow_names(builder)
    dag = DAG()
    for key, call in builder.calls.items():
        spec = builder.fan_outs.get(key)
        if spec is not None:
            dag.add_node(names[key], shape="diamond", label=f"fan_out({spec.task.task_id})")
        else:
            dag.add_node(names[key])
        for up in call.node.deps:
            dag.add_edge(names[up], names[key])
    return dag


__all__ = ["DAG", "auto_workflow_names", "describe", "graph"]


flow_actions.register("describe", describe)
flow_actions.register("graph", graph)
