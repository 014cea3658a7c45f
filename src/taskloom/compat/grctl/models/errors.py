"""Twin of ``grctl.models.errors``: the workflow error classes, by grctl's names."""

from __future__ import annotations

from taskloom.steps import (
    WorkflowAlreadyRunningError,
    WorkflowError,
    WorkflowNotFoundError,
    WorkflowTypeNotRegisteredError,
)

__all__ = [
    "WorkflowAlreadyRunningError",
    "WorkflowError",
    "WorkflowNotFoundError",
    "WorkflowTypeNotRegisteredError",
]
