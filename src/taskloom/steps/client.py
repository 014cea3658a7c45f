"""Starting step workflows and following them: the client API.

A client is nothing but a journal URL: it submits runs to the process-wide
engine of that database (the one ``@flow`` runs use too), so the workflow
runs in this process, is recorded in the same journal as every other run,
and is resumed by whichever runner on the database outlives this one.

With ``execute=False`` (PostgreSQL only) the runs are queued for
distributed workers instead (:mod:`taskloom.steps.remote`); handles work
the same either way, through the small :class:`StepBackend` interface.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from taskloom.core.engine import Engine
from taskloom.core.shared_engines import engine_for
from taskloom.core.styles import register_planner
from taskloom.journal.records import RunStatus
from taskloom.journal.urls import is_postgres_url, resolve_url
from taskloom.steps.backend import StepBackend
from taskloom.steps.codec import json_default
from taskloom.steps.directives import seconds_of
from taskloom.steps.errors import (
    WorkflowAlreadyRunning,
    WorkflowNotFoundError,
    WorkflowTypeNotRegisteredError,
)
from taskloom.steps.events import send_event
from taskloom.steps.functions import DurableFunction
from taskloom.steps.journal import DRIVER_KEY, KIND, RecordedRun
from taskloom.steps.plan import StepPlan, step_planner
from taskloom.steps.results import recorded_result
from taskloom.steps.workflow import Workflow, lookup_workflow

if TYPE_CHECKING:
    from datetime import timedelta

    from taskloom.steps.history import HistoryEvent


register_planner(KIND, step_planner)


class RunQueue(StepBackend, Protocol):
    """A backend that records runs for workers instead of executing them here."""

    def start(self, workflow_type: str, workflow_id: str, input_json: str) -> None: ...


@dataclass(frozen=True, slots=True)
class WorkflowDescription:
    """A snapshot of a step run, as ``handle.describe()`` returns it."""

    workflow_id: str
    workflow_type: str
    status: str
    steps: list[str]
    result: Any
    error: str | None


class WorkflowHandle:
    """A started workflow run, found by its ``workflow_id``."""

    def __init__(self, engine: StepBackend, workflow_id: str) -> None:
        self._engine = engine
        self.workflow_id = workflow_id

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.workflow_id!r}>"

    def result(self, timeout: timedelta | float | None = None) -> Any:
        """Wait for the end: the ``complete()`` result, else raise ``WorkflowFailed``."""
        self._engine.wait(self.workflow_id, seconds_of(timeout, "result(timeout=...)"))
        return recorded_result(self._engine.journal, self.workflow_id)

    def describe(self) -> WorkflowDescription:
        """Status, executed steps, and result or error, read from the journal."""
        run = self._engine.journal.get_run(self.workflow_id)
        if run is None:
            raise WorkflowNotFoundError(f"no workflow with id {self.workflow_id!r}")
        recorded = RecordedRun.load(self._engine.journal.get_tasks(self.workflow_id))
        result = json.loads(run.final_json or "null") if run.status == RunStatus.COMPLETED else None
        return WorkflowDescription(
            workflow_id=run.run_id,
            workflow_type=run.workflow_name,
            status=run.status,
            steps=[recorded.steps[i][0] for i in sorted(recorded.steps)],
            result=result,
            error=run.error,
        )

    def history(self) -> list[dict[str, Any]]:
        """Every recorded event of the run (steps, operation attempts, outcomes), oldest first."""
        return [
            {
                "kind": e.kind,
                "at": e.at,
                "key": e.task_key,
                "data": json.loads(e.data_json) if e.data_json else None,
            }
            for e in self._engine.journal.get_events(self.workflow_id)
            if e.task_key != DRIVER_KEY
        ]

    def get_history(self) -> list[HistoryEvent]:
        """The run's history in grctl's terms (``step.started``, ``task.completed``, ...)."""
        from taskloom.steps.history import read_history

        journal = self._engine.journal
        run = journal.get_run(self.workflow_id)
        workflow = lookup_workflow(run.workflow_name) if run is not None else None
        return read_history(journal, self.workflow_id, workflow)

    def cancel(self, reason: str = "cancelled by request") -> bool:
        """Cancel the run if this process (or, distributed, any worker) executes it;
        False if it is not active here (or has ended).

        Its unfinished child workflows (and theirs) are cancelled with it:
        distributed, in the same transaction; locally, those this process runs.
        """
        return self._engine.cancel(self.workflow_id, reason)

    def send(self, name: str, payload: Any = None) -> None:
        """Send event ``name`` to the run; see :func:`send_event`."""
        send_event(self._engine, self.workflow_id, name, payload)


class Client:
    """Starts and finds step workflows recorded in one journal (``db``).

    ``engine=`` runs them on an engine of your own (its slots, its journal)
    instead of the process-wide engine of ``db``. ``execute=False`` only
    records them for workers (grctl's split of client and worker): on
    PostgreSQL for ``taskloom worker`` processes, on SQLite for a
    :class:`~taskloom.steps.worker.Worker` on the same file; nothing runs in
    this process unless a worker of this process takes it.
    """

    def __init__(
        self, db: str | None = None, *, engine: Engine | None = None, execute: bool = True
    ) -> None:
        self._remote: RunQueue | None = None
        self._engine: StepBackend
        if not execute:
            if engine is not None:
                raise ValueError("execute=False queues runs for workers; do not pass engine=")
            if is_postgres_url(resolve_url(db)):
                from taskloom.steps.remote import DistributedSteps

                self._remote = DistributedSteps(db)
            else:
                from taskloom.steps.queued import LocalQueue

                self._remote = LocalQueue(db)
            self._engine = self._remote
        else:
            self._local = engine if engine is not None else engine_for(db)
            self._engine = self._local

    def send(self, workflow_id: str, name: str, payload: Any = None) -> None:
        """Send event ``name`` with ``payload`` to run ``workflow_id``; see :func:`send_event`."""
        send_event(self._engine, workflow_id, name, payload)

    def start_workflow(
        self,
        workflow_type: str | Workflow | DurableFunction[Any],
        workflow_id: str | None = None,
        input: Any = None,
        *,
        if_running: Literal["error", "return"] = "error",
    ) -> WorkflowHandle:
        """Record a new run of ``workflow_type`` and start it; returns at once.

        A ``workflow_id`` names one run. If a run with that id is still
        running, ``if_running="return"`` gives its handle instead of an error.
        A client that only records runs (``execute=False``) accepts the name
        of a workflow this process does not define: a worker that defines it
        runs it.
        """
        workflow: Workflow | None = None
        if self._remote is not None and isinstance(workflow_type, str):
            workflow = lookup_workflow(workflow_type)
            type_name = workflow_type
        else:
            workflow = _resolve(workflow_type)
            type_name = workflow.workflow_type
        if workflow is not None:
            workflow.check_input(input)
        workflow_id = workflow_id or uuid.uuid4().hex
        if if_running not in ("error", "return"):
            raise ValueError(f"if_running={if_running!r}; use 'error' or 'return'")
        existing = self._engine.journal.get_run(workflow_id)
        if existing is not None:
            if existing.status == RunStatus.RUNNING and if_running == "return":
                return WorkflowHandle(self._engine, workflow_id)
            state = "is still running" if existing.status == RunStatus.RUNNING else "already ran"
            raise WorkflowAlreadyRunning(
                f"workflow id {workflow_id!r} {state} ({existing.workflow_name!r}, "
                f"{existing.status}); use another workflow_id"
                + (
                    ", or if_running='return' to get its handle"
                    if state == "is still running"
                    else ""
                )
            )
        try:
            input_json = json.dumps(input, default=json_default, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"workflow {type_name!r}: the input cannot be recorded ({exc}); "
                "pass JSON data, a dataclass or a pydantic model"
            ) from None
        if self._remote is not None:
            self._remote.start(type_name, workflow_id, input_json)
        else:
            assert workflow is not None
            plan = StepPlan(workflow, workflow_id, self._local)
            self._local.submit(plan, input_json, run_id=workflow_id)
        return WorkflowHandle(self._engine, workflow_id)

    def run_workflow(
        self,
        workflow_type: str | Workflow | DurableFunction[Any],
        workflow_id: str | None = None,
        input: Any = None,
        *,
        timeout: timedelta | float | None = None,
    ) -> Any:
        """Start a workflow and wait for its result (``timeout``: a timedelta or seconds)."""
        return self.start_workflow(workflow_type, workflow_id, input).result(timeout)

    def schedule(
        self,
        workflow_type: str,
        *,
        cron: str,
        input: Any = None,
        timezone: str = "UTC",
        name: str | None = None,
    ) -> str:
        """Start ``workflow_type`` with ``input`` at every due time of ``cron``; the schedule id.

        Fired by the runners and :func:`taskloom.serve_schedules` loops of the
        processes that define the workflow type (docs/schedules.md).
        """
        from taskloom.steps.schedules import schedule_workflow

        return schedule_workflow(self._engine.journal, workflow_type, cron, input, timezone, name)

    def get_handle(self, workflow_id: str) -> WorkflowHandle:
        """The handle of a recorded run (started here or by another process)."""
        if self._engine.journal.get_run(workflow_id) is None:
            raise WorkflowNotFoundError(f"no workflow with id {workflow_id!r}")
        return WorkflowHandle(self._engine, workflow_id)


def _resolve(workflow_type: str | Workflow | DurableFunction[Any]) -> Workflow:
    if isinstance(workflow_type, Workflow):
        return workflow_type
    if isinstance(workflow_type, DurableFunction):
        return workflow_type.workflow
    workflow = lookup_workflow(workflow_type)
    if workflow is None:
        raise WorkflowTypeNotRegisteredError(
            f"no step workflow of type {workflow_type!r} is defined in this process; "
            "import the module that creates Workflow(workflow_type=...)"
        )
    return workflow


def start_workflow(
    workflow_type: str | Workflow | DurableFunction[Any],
    workflow_id: str | None = None,
    input: Any = None,
    *,
    db: str | None = None,
    if_running: Literal["error", "return"] = "error",
) -> WorkflowHandle:
    """``Client(db).start_workflow(...)``."""
    return Client(db).start_workflow(workflow_type, workflow_id, input, if_running=if_running)


def run_workflow(
    workflow_type: str | Workflow | DurableFunction[Any],
    workflow_id: str | None = None,
    input: Any = None,
    *,
    db: str | None = None,
    timeout: timedelta | float | None = None,
) -> Any:
    """``Client(db).run_workflow(...)``: start and wait for the result."""
    return Client(db).run_workflow(workflow_type, workflow_id, input, timeout=timeout)
