"""OpenTelemetry traces of runs: a span per run, attempt, step and operation.

``pip install 'taskloom[otel]'`` and configure OpenTelemetry the standard way
(your ``TracerProvider``, span processors and exporters, or the ``OTEL_*``
environment with the SDK's auto-configuration). taskloom only uses the API:
with no provider configured, :func:`load` finds nothing to trace to and
tracing stays off (one ``None`` test per run and attempt).

Spans and attributes:

* ``taskloom.run <workflow>`` -- the run, from its start to its end in the
  process that executes it (a resumed run opens a new run span in the same
  trace, with ``taskloom.resumed=true``). Distributed runs: the submitting
  client opens ``taskloom.submit <workflow>`` and records its context; every
  attempt a worker executes is a child of it.
* ``taskloom.task <task>`` -- one attempt; the task body runs inside it, so
  spans the body makes (an instrumented HTTP call) nest under it. Status
  ERROR with the exception recorded when the attempt fails; a retry and a
  deferral are events.
* ``taskloom.step <step>`` / ``taskloom.operation <task>`` -- a step
  workflow's steps and the task calls they journal.

Attributes: ``taskloom.workflow``, ``taskloom.run_id``, ``taskloom.task``,
``taskloom.task_key``, ``taskloom.attempt``, ``taskloom.style`` (dag, flow,
steps), ``taskloom.outcome``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_STYLE = {"dag": "dag", "flow": "flow", "steps": "steps"}


def load() -> OpenTelemetryTracing | None:
    """The tracer to install, or None while no OpenTelemetry provider is configured."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    return OpenTelemetryTracing()


def _context_of(traceparent: str | None) -> Any:
    if not traceparent:
        return None
    return _propagator.extract({"traceparent": traceparent})


class OpenTelemetryTracing:
    """:class:`taskloom.core.trace_hooks.Tracing` on the OpenTelemetry API."""

    def __init__(self) -> None:
        self.tracer = trace.get_tracer("taskloom")

    def caller_context(self) -> str | None:
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        return carrier.get("traceparent")

    def start_run(
        self, run_id: str, workflow: str, kind: str, parent: str | None, resumed: bool
    ) -> Any:
        return self.tracer.start_span(
            f"taskloom.run {workflow}",
            context=_context_of(parent),
            attributes={
                "taskloom.workflow": workflow,
                "taskloom.run_id": run_id,
                "taskloom.style": _STYLE.get(kind, kind),
                "taskloom.resumed": resumed,
            },
        )

    def submit_context(self, run_id: str, workflow: str, kind: str) -> str:
        """A distributed run's submission: a short span whose context the run records."""
        with self.tracer.start_as_current_span(
            f"taskloom.submit {workflow}",
            attributes={
                "taskloom.workflow": workflow,
                "taskloom.run_id": run_id,
                "taskloom.style": _STYLE.get(kind, kind),
            },
        ) as span:
            return self.traceparent(span)

    def traceparent(self, scope: Any) -> str:
        carrier: dict[str, str] = {}
        _propagator.inject(carrier, context=trace.set_span_in_context(scope))
        return carrier["traceparent"]

    def end_run(self, scope: Any, status: str, error: str | None) -> None:
        scope.set_attribute("taskloom.outcome", status)
        if status != "Completed":
            scope.set_status(trace.Status(trace.StatusCode.ERROR, error or status))
        scope.end()

    def start_attempt(
        self,
        parent: Any,
        run_id: str,
        workflow: str,
        task_key: str,
        task_name: str,
        attempt: int,
    ) -> tuple[Any, contextvars.Context]:
        if isinstance(parent, str) or parent is None:
            parent_context = _context_of(parent)
        else:
            parent_context = trace.set_span_in_context(parent)
        span = self.tracer.start_span(
            f"taskloom.task {task_name}",
            context=parent_context,
            attributes={
                "taskloom.workflow": workflow,
                "taskloom.run_id": run_id,
                "taskloom.task": task_name,
                "taskloom.task_key": task_key,
                "taskloom.attempt": attempt,
            },
        )
        body = contextvars.copy_context()
        body.run(otel_context.attach, trace.set_span_in_context(span))
        return span, body

    def end_attempt(self, span: Any, error: BaseException | None, outcome: str) -> None:
        span.set_attribute("taskloom.outcome", outcome)
        if error is not None:
            span.record_exception(error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}"))
        span.end()

    def add_event(self, scope: Any, name: str, attributes: Mapping[str, Any]) -> None:
        target = scope if scope is not None else trace.get_current_span()
        target.add_event(name, dict(attributes))

    @contextlib.contextmanager
    def span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[Any]:
        with self.tracer.start_as_current_span(name, attributes=dict(attributes)) as current:
            yield current
