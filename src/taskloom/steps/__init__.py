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

``@workflow`` (also ``durable``) makes a plain or async function that calls
tasks durable: a one-step workflow whose start handler calls the function.
It rebinds the name ``taskloom.steps.workflow`` from the submodule of that
name to the decorator; import the submodule's contents with
``from taskloom.steps.workflow import ...`` (which still works).

Importing this package registers the step planner with the engine, so any
runner on the database can resume step runs whose process died.
"""

from __future__ import annotations

from taskloom.steps.async_client import AsyncClient, AsyncWorkflowHandle
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
    NextDirectiveMissingError,
    NonDeterminismError,
    StepFailed,
    StoreKeyNotFoundError,
    WorkflowAlreadyRunning,
    WorkflowAlreadyRunningError,
    WorkflowError,
    WorkflowFailed,
    WorkflowNotFoundError,
    WorkflowTypeNotRegisteredError,
)

# The submodule ``workflow`` is already loaded (by ``client``), so importing
# from it does not rebind the package attribute: it stays the decorator.
from taskloom.steps.functions import DurableFunction, durable, workflow
from taskloom.steps.history import HistoryEvent, HistoryKind
from taskloom.steps.run_info import ChildHandle, RunInfo, RunStatus
from taskloom.steps.worker import Worker
from taskloom.steps.workflow import Workflow

__all__ = [
    "AsyncClient",
    "AsyncWorkflowHandle",
    "ChildHandle",
    "Client",
    "Context",
    "Directive",
    "DurableFunction",
    "ErrorDetails",
    "HistoryEvent",
    "HistoryKind",
    "NextDirectiveMissingError",
    "NonDeterminismError",
    "RunInfo",
    "RunStatus",
    "StepContext",
    "StepFailed",
    "StoreKeyNotFoundError",
    "Worker",
    "Workflow",
    "WorkflowAlreadyRunning",
    "WorkflowAlreadyRunningError",
    "WorkflowDescription",
    "WorkflowError",
    "WorkflowFailed",
    "WorkflowHandle",
    "WorkflowNotFoundError",
    "WorkflowTypeNotRegisteredError",
    "durable",
    "run_workflow",
    "start_workflow",
    "workflow",
]
