"""Twin of ``grctl.workflow``: ``Workflow`` definitions, ``Directive``, ``WorkflowHandle``."""

from __future__ import annotations

from taskloom.steps import AsyncWorkflowHandle as WorkflowHandle
from taskloom.steps import Directive, Workflow

__all__ = ["Directive", "Workflow", "WorkflowHandle"]
