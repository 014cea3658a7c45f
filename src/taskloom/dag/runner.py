"""Cloaca's ``DefaultRunner``: execute registered workflows on a journal.

A thin facade over :class:`~taskloom.core.engine.Engine`: it looks
workflows up by name, turns contexts into JSON, and hands back Cloaca-shaped
results. ``execute`` is safe to call from many threads at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, fields
from types import TracebackType
from typing import TYPE_CHECKING, Any

from taskloom.core.deaths import death_limit
from taskloom.core.engine import Engine
from taskloom.core.registry import lookup_workflow
from taskloom.core.result import WorkflowResult
from taskloom.core.retention import Retention
from taskloom.core.scheduler import RunExecution
from taskloom.core.styles import PlanHost, register_planner
from taskloom.core.time_limits import check_timeout
from taskloom.dag.cron_api import CronApi, check_cron_settings
from taskloom.dag.plan import DagPlan
from taskloom.dag.runner_setup import open_or_explain, schema_url
from taskloom.dag.submission import context_json as _context_json
from taskloom.dag.submission import resolve_workflow
from taskloom.dag.workflow import Workflow
from taskloom.journal.base import Journal
from taskloom.journal.records import RunRecord, RunStatus
from taskloom.journal.urls import open_journal

if TYPE_CHECKING:
    from taskloom.distributed.client import Client, RemoteRunHandle

logger = logging.getLogger("taskloom")


@dataclass(slots=True)
class DefaultRunnerConfig:
    """Settings of a runner. Names follow Cloaca where Cloaca has the setting.

    ``scheduler_poll_interval_ms`` and ``db_pool_size`` are accepted for
    compatibility and have no effect: taskloom does not poll, and the SQLite
    journal uses one connection.

    Cron settings (docs/schedules.md): ``enable_cron_scheduling`` makes the
    runner fire the schedules of the workflows it defines and poll the
    triggers of its process; ``cron_max_catchup_executions`` is how many due
    times missed while no process fired them are still started (oldest
    first), the rest being recorded as skipped. ``cron_poll_interval_seconds``
    has no effect (the scheduler sleeps until the next due time or an edit),
    nor have the ``cron_*recovery*`` and ``cron_lost_threshold_minutes``
    settings: a fire and its run are recorded in one transaction, so no
    execution can be lost between them, and a run whose process dies is
    resumed by run recovery like any other.

    A client-mode runner (``DefaultRunner(url, config, execute=False)``)
    applies only the run's own limits, ``workflow_timeout_seconds`` and
    ``task_timeout_seconds``, which it records on every run it submits; the
    other settings belong to the workers that execute the runs, and a value
    other than the default is refused (:func:`check_client_config`).

    ``max_process_deaths``: an attempt during which the runner processes
    died this often (a task that kills its process) fails with
    ``ProcessDiedError`` instead of running again, and its retry policy
    decides. None: ``$TASKLOOM_MAX_PROCESS_DEATHS``, else 3; 0: no limit.
    """

    max_concurrent_tasks: int = 4
    task_timeout_seconds: float | None = 300
    workflow_timeout_seconds: float | None = None
    enable_recovery: bool = True
    recovery_interval_seconds: float = 1.0
    heartbeat_interval_seconds: float = 3.0
    owner_lease_seconds: float = 10.0
    shutdown_timeout_seconds: float | None = 30.0
    thread_pool_size: int | None = None
    scheduler_poll_interval_ms: int = 100
    db_pool_size: int = 10
    enable_cron_scheduling: bool = True
    cron_poll_interval_seconds: int = 30
    cron_max_catchup_executions: int = 100
    cron_enable_recovery: bool = True
    cron_recovery_interval_seconds: int = 300
    cron_lost_threshold_minutes: int = 10
    cron_max_recovery_age_seconds: int = 86400
    cron_max_recovery_attempts: int = 3
    #: taskloom's own: delete runs that ended more than this many seconds ago, every
    #: ``retention_interval_seconds`` (see docs/operations.md); None keeps every run.
    retention_seconds: float | None = None
    retention_interval_seconds: float = 3600.0
    #: taskloom's own: serve Prometheus metrics on this port (``taskloom[metrics]``);
    #: None serves none. ``metrics_host`` is the address it binds.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: Adopt orphaned runs of an older version of a workflow this runner defines when
    #: every completed task still exists with the same dependencies (docs/deploys.md).
    adopt_orphans: bool = False
    max_process_deaths: int | None = None

    @staticmethod
    def default() -> DefaultRunnerConfig:
        """A config with every default (Cloaca's ``DefaultRunnerConfig.default()``)."""
        return DefaultRunnerConfig()

    def to_dict(self) -> dict[str, Any]:
        """Every setting by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __post_init__(self) -> None:
        check_cron_settings(self)
        if (
            isinstance(self.max_concurrent_tasks, bool)
            or not isinstance(self.max_concurrent_tasks, int)
            or self.max_concurrent_tasks < 1
        ):
            raise ValueError(
                f"max_concurrent_tasks={self.max_concurrent_tasks!r}: give an int >= 1"
            )
        for name in ("task_timeout_seconds", "workflow_timeout_seconds"):
            check_timeout(name, getattr(self, name))
        death_limit(self.max_process_deaths)


class RunHandle:
    """A started run: poll it, wait for it, or cancel it."""

    def __init__(self, runner: DefaultRunner, execution: RunExecution) -> None:
        self._runner = runner
        self._execution = execution
        self.run_id = execution.run_id

    def status(self) -> str:
        """ "Running", "Completed", "Failed" or "Cancelled"."""
        return self._execution.run.status

    def result(self, timeout: float | None = None) -> WorkflowResult:
        """Block until the run ends (``TimeoutError`` after ``timeout`` seconds)."""
        try:
            return self._execution.future.result(timeout)
        except TimeoutError:
            if self._execution.future.done():
                raise  # the run itself ended with this error
            raise TimeoutError(
                f"run {self.run_id} of {self._execution.plan.workflow_name!r} did not finish "
                f"within {timeout:g} s; it is still running (wait again, or cancel it)"
            ) from None

    async def result_async(self) -> WorkflowResult:
        return await asyncio.wrap_future(self._execution.future)

    def cancel(self) -> bool:
        """Cancel the run; False if it had already finished."""
        return self._runner._engine.cancel(self.run_id)

    def __repr__(self) -> str:
        return f"<RunHandle {self.run_id} {self.status()}>"


class FiredRun:
    """A run of a reactor's firing that another runner of the database took over.

    ``DefaultRunner.push`` returns one when a concurrent runner claimed the
    firing's run first; it follows the run by id, wherever it executes.
    """

    def __init__(self, runner: DefaultRunner, run_id: str, fire_id: str) -> None:
        self._runner = runner
        self.run_id = run_id
        self.fire_id = fire_id

    def status(self) -> str:
        run = self._runner.journal.get_run(self.run_id)
        return run.status if run is not None else RunStatus.RUNNING

    def result(self, timeout: float | None = None) -> WorkflowResult:
        """Block until the run ends (``TimeoutError`` after ``timeout`` seconds)."""
        return self._runner.result(self.run_id, timeout)

    def cancel(self) -> bool:
        return self._runner.cancel(self.run_id)

    def __repr__(self) -> str:
        return f"<FiredRun {self.run_id} {self.status()}>"


class DefaultRunner(CronApi):
    """Executes workflows, recording every run in the journal at ``database_url``.

    ``database_url`` defaults to ``$TASKLOOM_DATABASE_URL`` or
    ``sqlite://taskloom.db``. A database that cannot be reached or set up
    raises :class:`~taskloom.errors.RunnerSetupError` (a ``RuntimeError``
    whose text starts "Failed to set up schema"), as Cloaca does.

    With ``execute=True`` (the default) this process executes the runs it
    starts, on any backend; on PostgreSQL another runner resumes them if
    this process dies, exactly as on SQLite. With ``execute=False``
    (PostgreSQL only) the runner is a pure client: runs are queued for
    ``taskloom worker`` processes, and results arrive by notification. Its
    config's ``workflow_timeout_seconds`` and ``task_timeout_seconds`` are
    recorded on every run it submits and enforced by the workers; settings
    of the executing process are refused (:func:`check_client_config`).
    """

    def __init__(
        self,
        database_url: str | None = None,
        config: DefaultRunnerConfig | None = None,
        *,
        execute: bool = True,
        schema: str | None = None,
    ) -> None:
        self.config = config or DefaultRunnerConfig()
        url = database_url
        if schema is not None:
            url = schema_url(url, schema)
        self._client: Client | None = None
        self._stopped = False
        check_cron_settings(self.config)
        if not execute:
            from taskloom.distributed.client import Client

            check_client_config(self.config)
            self._client = open_or_explain(url, Client)
            self.journal: Journal = self._client.journal
            self.url = self.journal.url
            self._start_schedules(None)
            return
        self.journal = open_or_explain(url, open_journal)
        self.url = self.journal.url
        self._engine = Engine(
            self.journal,
            max_concurrent_tasks=self.config.max_concurrent_tasks,
            workflow_timeout=self.config.workflow_timeout_seconds,
            task_timeout=self.config.task_timeout_seconds,
            enable_recovery=self.config.enable_recovery,
            recovery_interval=self.config.recovery_interval_seconds,
            heartbeat_interval=self.config.heartbeat_interval_seconds,
            owner_lease=self.config.owner_lease_seconds,
            thread_pool_size=self.config.thread_pool_size,
            adopt_orphans=self.config.adopt_orphans,
            max_process_deaths=self.config.max_process_deaths,
        )
        try:
            self._start_schedules(self._engine)
        except BaseException:
            self._engine.shutdown(wait=False)
            raise
        #: The runner's Prometheus metrics (``metrics_port``); ``metrics.port`` is served.
        self.metrics: Any = None
        if self.config.metrics_port is not None:
            from taskloom.telemetry.metrics import Metrics

            self.metrics = Metrics().start()
            self.metrics.serve(self.config.metrics_port, self.config.metrics_host)
        self._retention: Retention | None = None
        if self.config.retention_seconds is not None:
            self._retention = Retention(
                self.journal,
                self.config.retention_seconds,
                interval=self.config.retention_interval_seconds,
            ).start()

    @classmethod
    def with_config(cls, database_url: str | None, config: DefaultRunnerConfig) -> DefaultRunner:
        return cls(database_url, config)

    @staticmethod
    def with_schema(database_url: str, schema: str) -> DefaultRunner:
        """A runner whose tables live in PostgreSQL schema ``schema`` (one tenant's).

        Cloaca's signature. Mixed-case names (``TenantA``) are kept as given
        and quoted everywhere. For a config or a client-mode runner use
        ``DefaultRunner(database_url, config, schema=..., execute=...)``.
        """
        return DefaultRunner(database_url, schema=schema)

    # -- reactors ---------------------------------------------------------

    def push(self, reactor: Any, accumulator: str, value: Any) -> RunHandle | FiredRun | None:
        """Push ``value`` into ``accumulator`` of ``reactor`` (a ``@reactor`` class or name).

        The value is recorded before this returns. If the reactor's mode is
        now satisfied it fires: a run of each of its computation graphs is
        recorded in the same transaction and started here; the handle of the
        first is returned (``None`` when the reactor did not fire).
        """
        from taskloom.dag.reactor_runs import plan_of, push_value

        if self._client is not None:
            raise ValueError(
                "push() needs a runner that executes runs; this one was created with "
                "execute=False. Push from DefaultRunner(database_url) instead"
            )
        self._check_running()
        if self._engine.on_loop_thread():
            raise RuntimeError(
                "cannot push from inside a task of the same runner: the firing would wait "
                "for the loop it runs on; push from another thread or another runner"
            )
        fire = push_value(self.journal, reactor, accumulator, value)
        if fire is None:
            return None
        engine = self._engine
        handles: list[RunHandle | FiredRun] = []
        for run_id in fire.run_ids:
            run = self.journal.get_run(run_id)
            plan = plan_of(run) if run is not None else None
            execution = None
            if run is not None and plan is not None:
                execution = engine.call(functools.partial(engine.adopt, run, plan)).result()
            if execution is not None:
                handles.append(RunHandle(self, execution))
            else:  # another runner of the database took it: follow it by id
                handles.append(FiredRun(self, run_id, fire.fire_id))
        return handles[0]

    # -- running ----------------------------------------------------------

    def start(
        self, workflow_name: str | Workflow, context: Any = None
    ) -> RunHandle | RemoteRunHandle:
        """Start a run and return at once with a handle."""
        self._check_running()
        if self._client is not None:
            return self._client.start(workflow_name, context, **self._limits())
        plan = self._plan(workflow_name)
        execution = self._engine.submit(plan, _context_json(context))
        return RunHandle(self, execution)

    def execute(self, workflow_name: str | Workflow, context: Any = None) -> WorkflowResult:
        """Run a workflow to its end. A failed task does not raise: see ``result.status``."""
        return self.start(workflow_name, context).result()

    async def execute_async(
        self, workflow_name: str | Workflow, context: Any = None
    ) -> WorkflowResult:
        """``execute`` for async code: the calling event loop is never blocked."""
        if self._client is not None:
            client, limits = self._client, self._limits()
            return await asyncio.to_thread(lambda: client.execute(workflow_name, context, **limits))
        plan = self._plan(workflow_name)
        input_json = _context_json(context)
        execution = await asyncio.to_thread(self._engine.submit, plan, input_json)
        return await asyncio.wrap_future(execution.future)

    def result(self, run_id: str, timeout: float | None = None) -> WorkflowResult:
        """Wait for any run on this database, including one resumed after a crash."""
        if self._client is not None:
            return self._client.result(run_id, timeout)
        return self._engine.wait(run_id, timeout)

    def cancel(self, run_id: str) -> bool:
        """Cancel a run; False if it had already ended (or, executing locally, if this
        runner does not execute it). In client mode any run of the database can be
        cancelled, as with :meth:`Client.cancel`."""
        if self._client is not None:
            return self._client.cancel(run_id)
        return self._engine.cancel(run_id)

    def recover(self) -> list[str]:
        """Resume orphaned runs now (the runner also does this every second)."""
        if self._client is not None:
            return []
        resumed: list[str] = self._engine.call(self._engine.recover).result()
        return resumed

    def _limits(self) -> dict[str, float | None]:
        """The time limits a client-mode runner records on each run it submits."""
        return {
            "workflow_timeout": self.config.workflow_timeout_seconds,
            "task_timeout": self.config.task_timeout_seconds,
        }

    def _plan(self, workflow: str | Workflow) -> DagPlan:
        return DagPlan(resolve_workflow(workflow), default_timeout=self.config.task_timeout_seconds)

    # -- lifecycle --------------------------------------------------------

    def stop(self) -> None:
        """Stop the runner now (Cloaca's ``stop``), without waiting for runs in flight.

        Its background services end and it takes no more runs; runs still
        going stay recorded as running and the next runner on the database
        resumes them (completed tasks are not run again). ``shutdown()``
        waits for them first. Calling ``stop`` twice is harmless.
        """
        if self._stopped:
            return
        self._stopped = True
        self._stop_schedules()
        if self._client is not None:
            self._client.close()
            return
        self._stop_services()
        self._engine.shutdown(wait=False)

    def _stop_services(self) -> None:
        """Stop what the runner runs beside its engine (retention, metrics)."""
        if self._retention is not None:
            self._retention.stop()
        if self.metrics is not None:
            self.metrics.stop()

    def _check_running(self) -> None:
        if self._stopped:
            raise RuntimeError("this runner was stopped; create a new DefaultRunner")

    def shutdown(self) -> None:
        """Finish active runs (up to ``shutdown_timeout_seconds``), then release everything."""
        already = self._stopped
        self._stopped = True
        self._stop_schedules()
        if self._client is not None:
            if not already:
                self._client.close()
            return
        self._stop_services()
        self._engine.shutdown(wait=True, timeout=self.config.shutdown_timeout_seconds)

    def __enter__(self) -> DefaultRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()


#: Settings of the process that executes runs, and where a distributed run gets them instead.
_WORKER_SETTINGS = {
    "max_concurrent_tasks": "tasks run at once per worker: taskloom worker --concurrency N "
    "(Worker(concurrency=N))",
    "enable_recovery": "workers always take over the tasks of a worker that died, once its "
    "lease expires: taskloom worker --lease S",
    "recovery_interval_seconds": "workers look for expired leases at every fallback poll: "
    "taskloom worker --poll S",
    "heartbeat_interval_seconds": "workers renew their leases every lease / 3: "
    "taskloom worker --lease S",
    "owner_lease_seconds": "a worker's tasks are taken over when their lease expires: "
    "taskloom worker --lease S",
    "adopt_orphans": "runs are adopted by the processes that execute them: "
    "DefaultRunnerConfig(adopt_orphans=True) on a local runner, or taskloom adopt RUN_ID",
    "thread_pool_size": "sync task bodies run in the workers' threads: Worker(thread_pool_size=N)",
    "max_process_deaths": "workers count the deaths of a task's processes: "
    "taskloom worker --max-process-deaths N (Worker(max_process_deaths=N))",
    "shutdown_timeout_seconds": "a client's shutdown never waits for runs (the workers go on "
    "executing them); wait for one with runner.result(run_id, timeout=S)",
    "retention_seconds": "workers prune ended runs: taskloom worker --retention AGE, or "
    "taskloom prune --older-than AGE",
    "retention_interval_seconds": "workers prune hourly: taskloom worker --retention AGE",
    "metrics_port": "the workers execute the tasks and serve their metrics: "
    "taskloom worker --metrics-port N",
    "metrics_host": "taskloom worker --metrics-host HOST",
}


def check_client_config(config: DefaultRunnerConfig) -> None:
    """Refuse settings a client-mode runner cannot apply, rather than ignore them.

    Every field is accounted for: the two timeouts are recorded on each run,
    ``scheduler_poll_interval_ms`` and ``db_pool_size`` are no-ops in every
    mode, and the settings of :data:`_WORKER_SETTINGS` raise ``ValueError``
    naming the field and where the setting lives instead -- unless they hold
    their default (a dataclass cannot tell a default it was given from one
    it was not).
    """
    defaults = DefaultRunnerConfig()
    for name, instead in _WORKER_SETTINGS.items():
        value = getattr(config, name)
        if value != getattr(defaults, name):
            raise ValueError(
                f"DefaultRunnerConfig.{name}={value!r} does not apply to DefaultRunner(..., "
                f"execute=False): the workers execute its runs ({instead}). Leave it at its "
                f"default ({getattr(defaults, name)!r}) in client mode"
            )


def _dag_planner(run: RunRecord, engine: PlanHost) -> DagPlan | None:
    workflow = lookup_workflow(run.workflow_name)
    if workflow is None or workflow.version != run.workflow_version:
        return None
    return DagPlan(workflow, default_timeout=engine.task_timeout)


register_planner("dag", _dag_planner)

__all__ = ["DefaultRunner", "DefaultRunnerConfig", "FiredRun", "RunHandle", "RunStatus"]
