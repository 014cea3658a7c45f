"""Prometheus metrics of runs and tasks, fed by the lifecycle events.

``pip install 'taskloom[metrics]'`` (the ``prometheus_client`` package: the
reference exposition library, small and dependency-free; OpenTelemetry
metrics would need an SDK and a Prometheus exporter for the same text
format). :class:`Metrics` subscribes to :func:`taskloom.subscribe`, so it
costs nothing on the engine's loop (events are delivered on their own
thread) and sees every style: a local runner's runs and tasks, and the task
attempts a distributed worker executes. Labels are bounded: workflow and
task *names*, statuses -- never run ids.

A worker adds what only it knows (:meth:`Metrics.watch_worker`): claim
latency, queue depth, leases expired and completions fenced off, read when
Prometheus scrapes. ``taskloom worker --metrics-port N`` and
``DefaultRunnerConfig(metrics_port=N)`` serve ``/metrics`` over HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from taskloom.core import events

if TYPE_CHECKING:
    from taskloom.distributed.worker import Worker

_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ImportError(
            "taskloom metrics need the prometheus_client package: pip install 'taskloom[metrics]'"
        ) from None
    return prometheus_client


class Metrics:
    """Counters, histograms and gauges of one process, in their own registry."""

    def __init__(self, registry: Any = None) -> None:
        prom = _prometheus()
        self.registry = registry if registry is not None else prom.CollectorRegistry()
        task = ("workflow", "task")
        self.tasks_started = prom.Counter(
            "taskloom_tasks_started", "Task attempts started.", task, registry=self.registry
        )
        self.tasks_succeeded = prom.Counter(
            "taskloom_tasks_succeeded", "Tasks completed.", task, registry=self.registry
        )
        self.tasks_failed = prom.Counter(
            "taskloom_tasks_failed", "Tasks failed for good.", task, registry=self.registry
        )
        self.tasks_retried = prom.Counter(
            "taskloom_tasks_retried", "Failed attempts retried.", task, registry=self.registry
        )
        self.tasks_timed_out = prom.Counter(
            "taskloom_tasks_timed_out",
            "Attempts that exceeded their timeout.",
            task,
            registry=self.registry,
        )
        self.tasks_skipped = prom.Counter(
            "taskloom_tasks_skipped", "Tasks skipped.", task, registry=self.registry
        )
        self.task_duration = prom.Histogram(
            "taskloom_task_duration_seconds",
            "Duration of task attempts.",
            task,
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.ready_to_start = prom.Histogram(
            "taskloom_task_ready_to_start_seconds",
            "Time from a task becoming ready to its start (local engines).",
            ("workflow",),
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.runs_started = prom.Counter(
            "taskloom_runs_started", "Runs started.", ("workflow",), registry=self.registry
        )
        self.runs_ended = prom.Counter(
            "taskloom_runs_ended",
            "Runs ended, by status.",
            ("workflow", "status"),
            registry=self.registry,
        )
        self.active_runs = prom.Gauge(
            "taskloom_active_runs", "Runs in progress.", ("workflow",), registry=self.registry
        )
        self._unsubscribe: Callable[[], None] | None = None
        self._server: Any = None
        #: The port ``/metrics`` is served on (after :meth:`serve`).
        self.port: int | None = None
        self._lock = threading.Lock()

    # -- feeding -----------------------------------------------------------

    def start(self) -> Metrics:
        """Subscribe to the lifecycle events (idempotent)."""
        with self._lock:
            if self._unsubscribe is None:
                self._unsubscribe = events.subscribe(self.observe)
        return self

    def stop(self) -> None:
        with self._lock:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            if self._server is not None:
                self._server.shutdown()
                self._server = None

    def observe(self, event: events.LifecycleEvent) -> None:
        """Count one lifecycle event."""
        workflow = event.workflow_name
        if event.kind == "run_started":
            self.runs_started.labels(workflow).inc()
            self.active_runs.labels(workflow).inc()
            return
        if event.kind == "run_finished":
            self.runs_ended.labels(workflow, event.status or "Unknown").inc()
            self.active_runs.labels(workflow).dec()
            return
        labels = (workflow, event.task_name or event.task_key or "?")
        if event.kind == "task_started":
            self.tasks_started.labels(*labels).inc()
            if event.queued is not None:
                self.ready_to_start.labels(workflow).observe(event.queued)
            return
        if event.kind == "task_skipped":
            self.tasks_skipped.labels(*labels).inc()
            return
        if event.duration is not None:
            self.task_duration.labels(*labels).observe(event.duration)
        if event.error is not None and event.error.startswith("TaskTimeoutError"):
            self.tasks_timed_out.labels(*labels).inc()
        if event.kind == "task_succeeded":
            self.tasks_succeeded.labels(*labels).inc()
        elif event.kind == "task_failed":
            self.tasks_failed.labels(*labels).inc()
        elif event.kind == "task_retry":
            self.tasks_retried.labels(*labels).inc()

    def watch_worker(self, worker: Worker) -> None:
        """Add a distributed worker's own figures, read at each scrape."""
        self.registry.register(_WorkerCollector(worker))

    # -- exposing ----------------------------------------------------------

    def text(self) -> str:
        """The Prometheus text exposition of every metric."""
        return str(_prometheus().generate_latest(self.registry).decode("utf-8"))

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``host:port`` (port 0: any free one); returns the port."""
        server, _thread = _prometheus().start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        port = int(server.server_port)
        self.port = port
        return port


class _WorkerCollector:
    """What a worker knows that no lifecycle event carries."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Any]:
        from prometheus_client import core

        worker = self.worker
        fenced = core.CounterMetricFamily(
            "taskloom_worker_completions_fenced",
            "Completions rejected because their claim had expired or their run was stopped.",
        )
        fenced.add_metric([], worker.rejected)
        yield fenced
        expired = core.CounterMetricFamily(
            "taskloom_worker_leases_expired",
            "Claims of tasks whose previous owner's lease had expired.",
        )
        expired.add_metric([], worker.reclaimed)
        yield expired
        claims = core.SummaryMetricFamily(
            "taskloom_worker_claim_seconds", "Time taken by claim statements."
        )
        claims.add_metric([], count_value=worker.claims, sum_value=worker.claim_seconds)
        yield claims
        depth = core.GaugeMetricFamily(
            "taskloom_queue_depth", "Tasks ready to be claimed, for this worker's workflows."
        )
        try:
            depth.add_metric([], worker.queue.ready_count(worker.workflows))
        except Exception:  # a scrape must not fail because the database is away
            return
        yield depth
