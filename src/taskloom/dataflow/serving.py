"""How the dataflow style plugs into the style-independent client and workers.

Registers in :mod:`taskloom.core.styles` the flow planner (by importing the
flow runner), how ``Client.start_flow`` queues a flow run, and which flows
a worker serves, and how retention removes the artifact files of deleted
outputs (see :mod:`taskloom.dag.serving` for the pattern).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taskloom.core import styles
from taskloom.core.plan import Plan
from taskloom.dataflow import (
    deploys,  # noqa: F401  (registers adoption and retry rules)
    introspect,  # noqa: F401  (registers describe/graph for Flow)
    runner,  # noqa: F401  (registers the "flow" planner)
    schedules,  # noqa: F401  (registers the "flow" schedule style)
)
from taskloom.dataflow.artifacts import sweep_artifacts
from taskloom.dataflow.flow import Flow, lookup_flow, registered_flows
from taskloom.dataflow.remote import submit_flow


def _flows(selected: Sequence[Flow[Any, Any] | str] | None) -> list[Flow[Any, Any]]:
    """The flows a worker serves: the ones named, or every defined one."""
    if selected is None:
        return registered_flows()
    result: list[Flow[Any, Any]] = []
    for item in selected:
        found = item if isinstance(item, Flow) else lookup_flow(item)
        if found is None:
            known = ", ".join(repr(f.name) for f in registered_flows()) or "none"
            raise ValueError(f"unknown flow {item!r}; defined flows: {known}")
        result.append(found)
    return result


def _served(
    selected: Sequence[Flow[Any, Any] | str] | None,
) -> tuple[list[Plan], list[tuple[str, str, str]]]:
    return [], [("flow", f.name, f.version) for f in _flows(selected)]


styles.register_starter("flow", submit_flow)
styles.register_served("flows", _served)
styles.register_sweeper(sweep_artifacts)
