"""The graph a run was started with, recorded so a later version can be checked against it.

A journal keeps task rows, not dependencies. When a new version of a
workflow is asked to *adopt* a run started by an older one, the rule is
that every completed task must still exist with the same dependencies --
which needs the old dependencies. They are recorded here: the plan's
shape (task key -> dependency keys), once per distinct graph of a
workflow version, not once per run. A process remembers which shapes it
has already recorded in a journal: a DAG or step run (whose graph the
version fixes) pays one set lookup, a flow run (whose graph depends on its
input) one hash of its graph -- 60 us for 200 nodes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading

from taskloom.core.plan import Plan
from taskloom.journal.base import Journal

logger = logging.getLogger("taskloom")

_lock = threading.Lock()
#: (journal url, kind, name, version, shape hash) already recorded by this process.
_recorded: set[tuple[str, str, str, str, str]] = set()
#: (journal url, kind, name, version) of fixed graphs already recorded by this process.
_fixed: set[tuple[str, str, str, str]] = set()


def shape_of(plan: Plan) -> dict[str, list[str]]:
    """``task key -> dependency keys`` of every node the plan has now."""
    return {key: list(node.deps) for key, node in plan.nodes.items()}


def record(journal: Journal, plan: Plan) -> None:
    """Record ``plan``'s graph in ``journal`` unless this process already did.

    A plan whose graph is fixed by its version (a DAG) costs a set lookup
    per run; others (a flow's graph depends on its input) are hashed.
    """
    if plan.fixed_graph:
        key = (journal.url, plan.kind, plan.workflow_name, plan.workflow_version)
        if key in _fixed:
            return
        record_graph(journal, plan.kind, plan.workflow_name, plan.workflow_version, shape_of(plan))
        _fixed.add(key)
        return
    record_graph(journal, plan.kind, plan.workflow_name, plan.workflow_version, shape_of(plan))


def record_graph(
    journal: Journal, kind: str, name: str, version: str, graph: dict[str, list[str]]
) -> None:
    """Record one graph of a workflow version unless this process already did.

    A journal without graph records (a backend written before them) is
    skipped: its runs can still run, they only cannot be adopted.
    """
    text = json.dumps(graph, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    key = (journal.url, kind, name, version, digest)
    with _lock:
        if key in _recorded:
            return
    with contextlib.suppress(NotImplementedError):
        journal.record_shape(kind, name, version, digest, text)
    with _lock:
        _recorded.add(key)


def recorded_shapes(
    journal: Journal, kind: str, name: str, version: str
) -> list[dict[str, list[str]]]:
    """Every graph recorded for one workflow version (several for a flow whose graph
    depends on its inputs)."""
    try:
        texts = journal.get_shapes(kind, name, version)
    except NotImplementedError:
        return []
    shapes: list[dict[str, list[str]]] = []
    for text in texts:
        data = json.loads(text)
        if isinstance(data, dict):
            shapes.append({str(k): [str(d) for d in v] for k, v in data.items()})
    return shapes
