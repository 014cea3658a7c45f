"""What the dashboard can do to runs, through the same calls as Python code.

Each action goes through the public API a program would use, so it is
recorded in the journal exactly like that call: ``taskloom.cancel_run``,
``taskloom.retry_run``, pausing and resuming a schedule (as
``set_cron_schedule_enabled`` / ``set_trigger_enabled``), sending an event to a waiting step run
(``taskloom.steps`` ``send_event``), starting a run of a workflow the
dashboard imported with ``--app``.

Where a run started from the dashboard executes: on SQLite, in the
dashboard's own process (as ``DefaultRunner(url).start`` would); on
PostgreSQL it is queued for the ``taskloom worker`` processes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from taskloom.journal.base import Journal
from taskloom.journal.urls import is_postgres_url

#: The reason recorded on runs cancelled from the dashboard.
CANCEL_REASON = "cancelled from the dashboard"


class ActionError(ValueError):
    """An action that cannot be done, with the reason to show the user."""


@dataclass(frozen=True, slots=True)
class Startable:
    """A workflow the dashboard can start (defined by an imported ``--app`` module)."""

    style: str
    name: str


class _JournalBackend:
    """What ``send_event`` needs of an engine when the run executes elsewhere.

    The event is recorded in the journal; the engine or worker running the
    workflow sees it there (workers at once by NOTIFY, a local engine on its
    next maintenance tick), exactly as for an event sent from another process.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def wake(self, run_id: str) -> None:
        return None


class Actions:
    """The dashboard's actions on one journal."""

    def __init__(
        self, url: str, journal: Journal, apps: tuple[str, ...] = (), read_only: bool = False
    ) -> None:
        self.url = url
        self.journal = journal
        self.apps = apps
        self.read_only = read_only
        self.distributed = is_postgres_url(url)
        self._lock = threading.Lock()
        self._runner: Any = None
        self._steps: Any = None
        if apps and not self.distributed and not read_only:
            # An engine of the app's workflows in this process, from the start:
            # it resumes the runs retried here (and orphans of those workflows).
            self._dag_runner()

    # -- cancel and retry ---------------------------------------------------

    def cancel(self, run_id: str) -> bool:
        """Cancel a run, whoever executes it (``taskloom.cancel_run``); False if it had ended."""
        from taskloom.core.run_control import cancel_run
        from taskloom.errors import TaskloomError

        try:
            return cancel_run(run_id, database_url=self.url, reason=CANCEL_REASON, wait=5.0)
        except TaskloomError as exc:  # unknown run, a run changing owner under us
            raise ActionError(str(exc)) from None

    def retry(self, run_id: str) -> None:
        """A new attempt of a failed or cancelled run (``taskloom.retry_run``).

        Completed tasks keep their outputs; the run is resumed by a process
        that serves its workflow version (this one, with ``--app``).
        """
        from taskloom.core.run_control import retry_run
        from taskloom.errors import TaskloomError

        try:
            retry_run(run_id, database_url=self.url)
        except TaskloomError as exc:  # unknown run, running or completed run
            raise ActionError(str(exc)) from None

    # -- schedules ----------------------------------------------------------

    def set_schedule_enabled(self, schedule_id: str, enabled: bool) -> None:
        """Pause or resume a schedule, as ``set_cron_schedule_enabled`` would."""
        from taskloom.ui.schedules import set_schedule_enabled

        try:
            set_schedule_enabled(self.journal, schedule_id, enabled)
        except (LookupError, ValueError) as exc:
            raise ActionError(str(exc)) from None

    # -- events -------------------------------------------------------------

    def send_event(self, run_id: str, name: str, payload: Any) -> None:
        """Send event ``name`` to step run ``run_id`` (as ``Client.send`` does)."""
        from taskloom.steps.events import send_event

        run = self.journal.get_run(run_id)
        if run is None:
            raise ActionError(f"no run {run_id!r}")
        if run.kind != "steps":
            raise ActionError(f"run {run_id!r} is a {run.kind} run; only step runs take events")
        try:
            send_event(_JournalBackend(self.journal), run_id, name, payload)  # type: ignore[arg-type]
        except (ValueError, TypeError, LookupError) as exc:
            raise ActionError(str(exc)) from None
        except Exception as exc:  # TaskloomError: the run ended meanwhile
            raise ActionError(str(exc)) from None

    # -- starting -----------------------------------------------------------

    def startable(self) -> list[Startable]:
        """Workflows defined by the imported app modules (none without ``--app``)."""
        if not self.apps or self.read_only:
            return []
        from taskloom.core.registry import workflow_names
        from taskloom.steps.workflow import registered_workflows

        found = [Startable("dag", name) for name in sorted(workflow_names())]
        from taskloom.dataflow.flow import registered_flows

        found += [Startable("steps", w.workflow_type) for w in registered_workflows()]
        found += [Startable("flow", f.name) for f in registered_flows()]
        return found

    def start(self, style: str, name: str, data: Any) -> str:
        """Start a run of a startable workflow with JSON input; its run id."""
        if Startable(style, name) not in self.startable():
            raise ActionError(
                f"{style} workflow {name!r} is not defined here; start the dashboard with "
                "--app MODULE naming the module that defines it"
            )
        if style == "dag":
            if data is not None and not isinstance(data, dict):
                raise ActionError("the input of a DAG workflow is its context: a JSON object")
            from taskloom.dag.context import Context

            handle = self._dag_runner().start(name, Context(data or {}))
            return str(handle.run_id)
        if style == "steps":
            handle = self._steps_client().start_workflow(name, None, data)
            return str(handle.workflow_id)
        from taskloom.dataflow.flow import lookup_flow

        flow = lookup_flow(name)
        if flow is None or (data is not None and not isinstance(data, dict)):
            raise ActionError("the input of a flow is its keyword arguments: a JSON object")
        try:
            if self.distributed:
                return str(flow.submit(params=data or {}, db=self.url).run_id)
            return self._start_flow_here(flow, data or {})
        except (TypeError, ValueError) as exc:  # arguments the flow body does not take
            raise ActionError(f"flow {name!r}: {exc}") from None

    def _start_flow_here(self, flow: Any, kwargs: dict[str, Any]) -> str:
        """What ``flow.run(**kwargs, db=url)`` does, without waiting for the end."""
        from taskloom.core.shared_engines import engine_for
        from taskloom.dataflow.runner import flow_input_json, plan_flow

        engine = engine_for(self.url)
        plan = plan_flow(flow, (), kwargs, "fail_fast", None, engine)
        return str(engine.submit(plan, flow_input_json(plan, (), kwargs)).run_id)

    def _dag_runner(self) -> Any:
        with self._lock:
            if self._runner is None:
                from taskloom.dag.runner import DefaultRunner

                self._runner = DefaultRunner(self.url, execute=not self.distributed)
            return self._runner

    def _steps_client(self) -> Any:
        with self._lock:
            if self._steps is None:
                from taskloom.steps.client import Client

                self._steps = Client(self.url, execute=not self.distributed)
            return self._steps

    def close(self) -> None:
        with self._lock:
            if self._runner is not None:
                self._runner.shutdown()
                self._runner = None
