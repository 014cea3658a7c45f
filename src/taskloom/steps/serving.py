"""How the durable-steps style plugs into the style-independent workers.

Registers in :mod:`taskloom.core.styles` the step planner (by importing the
step client) and the step workflow types a worker serves (see
:mod:`taskloom.dag.serving` for the pattern).
"""

from __future__ import annotations

from taskloom.core import styles
from taskloom.core.plan import Plan
from taskloom.steps import (
    client,  # noqa: F401  (registers the step planner)
    deploys,  # noqa: F401  (registers adoption and retry rules)
)
from taskloom.steps.plan import KIND, VERSION
from taskloom.steps.workflow import registered_workflows


def _served(enabled: bool | None) -> tuple[list[Plan], list[tuple[str, str, str]]]:
    if enabled is False:
        return [], []
    return [], [(KIND, w.workflow_type, VERSION) for w in registered_workflows()]


styles.register_served("steps", _served)
