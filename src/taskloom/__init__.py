"""taskloom: a durable workflow engine that is just a library.

Decorate functions with ``@task``, group them into workflows, run them; every
run is recorded in an embedded SQLite journal (WAL) so it survives a crash.

Cloaca code runs with ``import taskloom as cloaca``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import TYPE_CHECKING, Any

from taskloom.core import calls, log_fields, styles, trace_hooks
from taskloom.core.known_types import register_type
from taskloom.core.registry import register_workflow_constructor
from taskloom.dag.context import Context
from taskloom.dag.triggers import (
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
from taskloom.dag.workflow import Workflow, WorkflowBuilder
from taskloom.dataflow.flow import Flow, Node, fan_out, flow
from taskloom.dataflow.policy import FailurePolicy
from taskloom.errors import (
    AdoptionRefused,
    AggregateTaskError,
    CycleDetectedError,
    GraphNodeError,
    InvalidGraphError,
    JournalError,
    ProcessDiedError,
    RetryExhaustedError,
    RunnerSetupError,
    RunNotFoundError,
    RunStateError,
    TaskExecutionError,
    TaskExecutionTimeoutError,
    TaskFailedError,
    TaskloomError,
    TaskTimeoutError,
    UnencodableValueError,
    ValueRefusedError,
    WorkflowValidationError,
)
from taskloom.retry import (
    BackoffStrategy,
    Jitter,
    RetryCondition,
    RetryPolicy,
    RetryPolicyBuilder,
)
from taskloom.task import TaskDefinition, task

if TYPE_CHECKING:
    from taskloom.core.events import LifecycleEvent, flush_events
    from taskloom.core.handle import TaskHandle
    from taskloom.core.result import TaskOutcome, WorkflowResult
    from taskloom.core.run_control import adopt_run, cancel_run, orphaned_runs, retry_run
    from taskloom.core.schedule_service import serve_schedules
    from taskloom.core.signing import configure_pickle
    from taskloom.dag.computation_graph import ComputationGraphBuilder, node
    from taskloom.dag.event_triggers import TriggerResult, trigger
    from taskloom.dag.reactor import passthrough_accumulator, reactor
    from taskloom.dag.runner import DefaultRunner, DefaultRunnerConfig, RunHandle
    from taskloom.dag.tenancy import DatabaseAdmin, TenantConfig, TenantCredentials
    from taskloom.dataflow.context import RunContext, get_context
    from taskloom.dataflow.hooks.named_events import emit, subscribe
    from taskloom.dataflow.runner import resume
    from taskloom.dataflow.schedules import schedule
    from taskloom.distributed.client import Client, RemoteRunHandle
    from taskloom.distributed.worker import Worker
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

# The execution layer pulls in asyncio, threads and sqlite3; load it on first
# use so that ``import taskloom`` (and decorating tasks) stays cheap.
_LAZY = {
    "TaskHandle": "taskloom.core.handle",
    "TaskOutcome": "taskloom.core.result",
    "WorkflowResult": "taskloom.core.result",
    # Signed pickles (opt-in): hmac and pickle load only when asked for.
    "configure_pickle": "taskloom.core.signing",
    "DefaultRunner": "taskloom.dag.runner",
    "DefaultRunnerConfig": "taskloom.dag.runner",
    "RunHandle": "taskloom.dag.runner",
    "resume": "taskloom.dataflow.runner",
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
    # One subscribe for both forms: subscribe(callback) gets LifecycleEvent objects,
    # subscribe("task_failed", callback) auto_workflow's dict payloads.
    "subscribe": "taskloom.dataflow.hooks.named_events",
    "emit": "taskloom.dataflow.hooks.named_events",
    "get_context": "taskloom.dataflow.context",
    "RunContext": "taskloom.dataflow.context",
    "flush_events": "taskloom.core.events",
    "LifecycleEvent": "taskloom.core.events",
    # PostgreSQL: psycopg itself is imported only when a connection is made.
    "Client": "taskloom.distributed.client",
    "RemoteRunHandle": "taskloom.distributed.client",
    "Worker": "taskloom.distributed.worker",
    # Retry, cancel and adopt any recorded run (docs/deploys.md).
    "retry_run": "taskloom.core.run_control",
    "cancel_run": "taskloom.core.run_control",
    "adopt_run": "taskloom.core.run_control",
    "orphaned_runs": "taskloom.core.run_control",
    "DatabaseAdmin": "taskloom.dag.tenancy",
    "TenantConfig": "taskloom.dag.tenancy",
    "TenantCredentials": "taskloom.dag.tenancy",
    # Cloaca's computation graphs and reactors.
    "ComputationGraphBuilder": "taskloom.dag.computation_graph",
    "node": "taskloom.dag.computation_graph",
    "reactor": "taskloom.dag.reactor",
    "passthrough_accumulator": "taskloom.dag.reactor",
    # Schedules (docs/schedules.md); cronsim is imported only when a schedule is evaluated.
    "trigger": "taskloom.dag.event_triggers",
    "TriggerResult": "taskloom.dag.event_triggers",
    "schedule": "taskloom.dataflow.schedules",
    "serve_schedules": "taskloom.core.schedule_service",
}


def _call_outside_flows(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A dataflow task called outside any flow runs at once (auto_workflow's rule)."""
    from taskloom.dataflow.immediate import call_now

    return call_now(task, args, kwargs)


def _load_styles() -> None:
    """Import each style's plug-in into the core's registries (engines, client, workers)."""
    importlib.import_module("taskloom.dag.serving")
    importlib.import_module("taskloom.dataflow.serving")
    importlib.import_module("taskloom.steps.serving")


calls.install_outside_handler(_call_outside_flows)
styles.install_loader(_load_styles)


_otel_installed: bool | None = None


def _load_tracing() -> Any:
    """OpenTelemetry tracing when ``taskloom[otel]`` is installed and a provider is set."""
    global _otel_installed
    if _otel_installed is None:
        _otel_installed = importlib.util.find_spec("opentelemetry") is not None
    if not _otel_installed:
        return None
    from taskloom.telemetry.tracing import load

    return load()


trace_hooks.install_loader(_load_tracing)


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
log_fields.install(logger)

__version__ = "0.1.0"

__all__ = [
    "AdoptionRefused",
    "AggregateTaskError",
    "BackoffStrategy",
    "Client",
    "ComputationGraphBuilder",
    "ConditionOperator",
    "Context",
    "CycleDetectedError",
    "DatabaseAdmin",
    "DefaultRunner",
    "DefaultRunnerConfig",
    "Directive",
    "ErrorDetails",
    "FailurePolicy",
    "Flow",
    "GraphNodeError",
    "InvalidGraphError",
    "Jitter",
    "JournalError",
    "LifecycleEvent",
    "Node",
    "NonDeterminismError",
    "ProcessDiedError",
    "RemoteRunHandle",
    "RetryCondition",
    "RetryExhaustedError",
    "RetryPolicy",
    "RetryPolicyBuilder",
    "RunContext",
    "RunHandle",
    "RunNotFoundError",
    "RunStateError",
    "RunnerSetupError",
    "StepContext",
    "StepFailed",
    "TaskDefinition",
    "TaskExecutionError",
    "TaskExecutionTimeoutError",
    "TaskFailedError",
    "TaskHandle",
    "TaskOutcome",
    "TaskTimeoutError",
    "TaskloomError",
    "TenantConfig",
    "TenantCredentials",
    "TriggerResult",
    "TriggerRule",
    "UnencodableValueError",
    "ValueRefusedError",
    "Worker",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowResult",
    "WorkflowValidationError",
    "__version__",
    "adopt_run",
    "all_of",
    "always",
    "any_of",
    "cancel_run",
    "configure_pickle",
    "context_value",
    "durable",
    "emit",
    "fan_out",
    "flow",
    "flush_events",
    "get_context",
    "node",
    "none_of",
    "orphaned_runs",
    "passthrough_accumulator",
    "reactor",
    "register_type",
    "register_workflow_constructor",
    "resume",
    "retry_run",
    "run_workflow",
    "schedule",
    "serve_schedules",
    "start_workflow",
    "subscribe",
    "task",
    "task_failed",
    "task_skipped",
    "task_success",
    "trigger",
]
