"""Durable step workflows (grctl's authoring style) on the taskloom journal.

``Workflow(workflow_type=...)`` with ``@wf.start()`` / ``@wf.step()``
handlers returning directives; ``@task`` calls inside a step are journaled
operations, replayed after a crash. grctl imports map as::

    from grctl.worker.task import task          -> from taskloom import task
    from grctl.worker.context import Context    -> from taskloom.steps import Context
    from grctl.models import Directive          -> from taskloom.steps import Directive
    from grctl.models import ErrorDetails       -> from taskloom.steps import ErrorDetails
    from grctl.workflow import Workflow         -> from taskloom.steps import Workflow
    from grctl.models.directive import RetryPolicy -> from taskloom import RetryPolicy

Importing this package registers the step planner with the engine, so any
runner on the database can resume step runs whose process died.
"""

from __future__ import annotations

from taskloom.steps.client import (
    Client,
    WorkflowDescription,
    WorkflowHandle,
    run_workflow,
    start_workflow,
)
from taskloom.steps.context import Context, StepContext
from taskloom.steps.directives import Directive, ErrorDetails
from taskloom.steps.errors import (
    NonDeterminismError,
    StepFailed,
    WorkflowAlreadyRunning,
    WorkflowFailed,
)
from taskloom.steps.workflow import Workflow

__all__ = [
    "Client",
    "Context",
    "Directive",
    "ErrorDetails",
    "NonDeterminismError",
    "StepContext",
    "StepFailed",
    "Workflow",
    "WorkflowAlreadyRunning",
    "WorkflowDescription",
    "WorkflowFailed",
    "WorkflowHandle",
    "run_workflow",
    "start_workflow",
]
