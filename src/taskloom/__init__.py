"""taskloom: a durable workflow engine that is just a library.

Decorate functions with ``@task``, group them into workflows, run them; every
run is recorded in an embedded SQLite journal (WAL) so it survives a crash.

Cloaca code runs with ``import taskloom as cloaca``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from taskloom.authoring.context import Context
from taskloom.authoring.flow import Flow, Node, fan_out, flow
from taskloom.authoring.registry import register_workflow_constructor
from taskloom.authoring.retry import (
    BackoffStrategy,
    Jitter,
    RetryCondition,
    RetryPolicy,
    RetryPolicyBuilder,
)
from taskloom.authoring.task import TaskDefinition, task
from taskloom.authoring.triggers import (
    ConditionOperator,
    TriggerRule,
    all_of,
    always,
    any_of,
    context_value,
    none_of,
    task_failed,
    task_skipped,
    task_success,
)
from taskloom.authoring.workflow import Workflow, WorkflowBuilder
from taskloom.errors import (
    AggregateTaskError,
    JournalError,
    RunNotFoundError,
    TaskFailedError,
    TaskloomError,
    TaskTimeoutError,
    WorkflowValidationError,
)

if TYPE_CHECKING:
    from taskloom.execution.client import Client, RemoteRunHandle
    from taskloom.execution.events import LifecycleEvent, flush_events, subscribe
    from taskloom.execution.flow_runner import resume
    from taskloom.execution.handle import TaskHandle
    from taskloom.execution.result import TaskOutcome, WorkflowResult
    from taskloom.execution.runner import DefaultRunner, DefaultRunnerConfig, RunHandle
    from taskloom.execution.worker import Worker
    from taskloom.steps import (
        Directive,
        ErrorDetails,
        NonDeterminismError,
        StepContext,
        StepFailed,
        durable,
        run_workflow,
        start_workflow,
    )
    from taskloom.tenancy import DatabaseAdmin, TenantConfig, TenantCredentials

# The execution layer pulls in asyncio, threads and sqlite3; load it on first
# use so that ``import taskloom`` (and decorating tasks) stays cheap.
_LAZY = {
    "TaskHandle": "taskloom.execution.handle",
    "TaskOutcome": "taskloom.execution.result",
    "WorkflowResult": "taskloom.execution.result",
    "DefaultRunner": "taskloom.execution.runner",
    "DefaultRunnerConfig": "taskloom.execution.runner",
    "RunHandle": "taskloom.execution.runner",
    "resume": "taskloom.execution.flow_runner",
    # Durable step workflows (grctl style); Context stays Cloaca's.
    "StepContext": "taskloom.steps",
    "ErrorDetails": "taskloom.steps",
    "Directive": "taskloom.steps",
    "StepFailed": "taskloom.steps",
    "NonDeterminismError": "taskloom.steps",
    "start_workflow": "taskloom.steps",
    "run_workflow": "taskloom.steps",
    # ``@durable`` is ``taskloom.steps.workflow`` (``taskloom.Workflow`` is Cloaca's).
    "durable": "taskloom.steps",
    "subscribe": "taskloom.execution.events",
    "flush_events": "taskloom.execution.events",
    "LifecycleEvent": "taskloom.execution.events",
    # PostgreSQL: psycopg itself is imported only when a connection is made.
    "Client": "taskloom.execution.client",
    "RemoteRunHandle": "taskloom.execution.client",
    "Worker": "taskloom.execution.worker",
    "DatabaseAdmin": "taskloom.tenancy",
    "TenantConfig": "taskloom.tenancy",
    "TenantCredentials": "taskloom.tenancy",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'taskloom' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


#: Everything taskloom logs goes to this stdlib logger. Importing taskloom
#: installs no handler: configuring logging is the application's business.
logger = logging.getLogger("taskloom")

__version__ = "0.1.0"

__all__ = [
    "AggregateTaskError",
    "BackoffStrategy",
    "Client",
    "ConditionOperator",
    "Context",
    "DatabaseAdmin",
    "DefaultRunner",
    "DefaultRunnerConfig",
    "Directive",
    "ErrorDetails",
    "Flow",
    "Jitter",
    "JournalError",
    "LifecycleEvent",
    "Node",
    "NonDeterminismError",
    "RemoteRunHandle",
    "RetryCondition",
    "RetryPolicy",
    "RetryPolicyBuilder",
    "RunHandle",
    "RunNotFoundError",
    "StepContext",
    "StepFailed",
    "TaskDefinition",
    "TaskFailedError",
    "TaskHandle",
    "TaskOutcome",
    "TaskTimeoutError",
    "TaskloomError",
    "TenantConfig",
    "TenantCredentials",
    "TriggerRule",
    "Worker",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowResult",
    "WorkflowValidationError",
    "__version__",
    "all_of",
    "always",
    "any_of",
    "context_value",
    "durable",
    "fan_out",
    "flow",
    "flush_events",
    "none_of",
    "register_workflow_constructor",
    "resume",
    "run_workflow",
    "start_workflow",
    "subscribe",
    "task",
    "task_failed",
    "task_skipped",
    "task_success",
]
