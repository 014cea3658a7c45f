"""How the durable-steps style plugs into the style-independent workers.

Registers in :mod:`taskloom.core.styles` the step planner (by importing the
step client), the step workflow types a worker serves, and the children that
retention must keep while their parent runs (see
:mod:`taskloom.dag.serving` for the pattern).
"""

from __future__ import annotations

from taskloom.core import styles
from taskloom.core.plan import Plan
from taskloom.journal.base import Journal
from taskloom.steps import (
    client,  # noqa: F401  (registers the step planner)
    deploys,  # noqa: F401  (registers adoption and retry rules)
    schedules,  # noqa: F401  (registers the "steps" schedule style)
)
from taskloom.steps.children import recorded_children
from taskloom.steps.journal import KIND, VERSION
from taskloom.steps.workflow import registered_workflows


def _served(enabled: bool | None) -> tuple[list[Plan], list[tuple[str, str, str]]]:
    if enabled is False:
        return [], []
    return [], [(KIND, w.workflow_type, VERSION) for w in registered_workflows()]


def _children_of_unfinished(journal: Journal) -> set[str]:
    """Children whose parent still runs: the parent will read their results."""
    kept: set[str] = set()
    for run in journal.unfinished_runs():
        if run.kind == KIND:
            kept.update(recorded_children(journal.get_tasks(run.run_id)))
    return kept


styles.register_served("steps", _served)
styles.register_keeper(_children_of_unfinished)
