"""Where tracing plugs into the engine, at the cost of one ``None`` test when it is off.

A run is a trace: a span for the run, one per task attempt (DAG task, flow
call), one per step and per operation of a step workflow. The engine calls
the installed :class:`Tracing` at those points; with no tracing installed
(``taskloom[otel]`` missing, or no OpenTelemetry provider configured) the
run's scope is ``None`` and nothing else happens -- the hot path does not
change. The OpenTelemetry implementation is
:mod:`taskloom.telemetry.tracing`; the package ``__init__`` installs the
loader that finds it, so the core imports nothing of OpenTelemetry.

A run's trace context (W3C ``traceparent``) is recorded in the journal with
the run (a ``trace_context`` event), so a run resumed after a crash, or
executed by workers on other machines, continues the same trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from taskloom.core.suspend import Suspend

#: The journal event kind that records a run's trace context.
TRACE_EVENT = "trace_context"


class Tracing(Protocol):
    """What the engine asks of a tracer (see :mod:`taskloom.telemetry.tracing`)."""

    def caller_context(self) -> str | None:
        """The ``traceparent`` of the span current in the calling thread, if any."""

    def start_run(
        self, run_id: str, workflow: str, kind: str, parent: str | None, resumed: bool
    ) -> Any:
        """Open a run's span (None: do not trace this run)."""

    def submit_context(self, run_id: str, workflow: str, kind: str) -> str:
        """A distributed run's ``traceparent``: the context of a short submit span."""

    def traceparent(self, scope: Any) -> str:
        """The W3C ``traceparent`` of a run's (or an attempt's) span, to record."""

    def end_run(self, scope: Any, status: str, error: str | None) -> None: ...

    def start_attempt(
        self,
        parent: Any,
        run_id: str,
        workflow: str,
        task_key: str,
        task_name: str,
        attempt: int,
    ) -> tuple[Any, contextvars.Context]:
        """Open an attempt's span under ``parent`` (a run scope or a ``traceparent``);
        the body runs in the returned context, so its own spans nest under it."""

    def end_attempt(self, span: Any, error: BaseException | None, outcome: str) -> None: ...

    def add_event(self, scope: Any, name: str, attributes: Mapping[str, Any]) -> None:
        """An event on a span (``scope`` None: the span current in this context)."""

    def span(
        self, name: str, attributes: Mapping[str, Any]
    ) -> contextlib.AbstractContextManager[Any]:
        """A child of the current span (steps, operations)."""


_current: Tracing | None = None
_loader: Callable[[], Tracing | None] | None = None
_off = False
#: While no tracer is found, how often the loader is asked again.
_LOOK_AGAIN_S = 1.0
_next_look = 0.0


def install_loader(loader: Callable[[], Tracing | None]) -> None:
    """Set what finds a tracer (the package ``__init__`` does)."""
    global _loader
    _loader = loader


def tracing() -> Tracing | None:
    """The tracer, once one can be found. Until then the loader is asked again at
    most once a second, so a provider configured after taskloom started is picked
    up and a process without one pays one clock read per run."""
    global _current, _next_look
    if _current is None and _loader is not None and not _off:
        now = time.monotonic()
        if now >= _next_look:
            _next_look = now + _LOOK_AGAIN_S
            _current = _loader()
    return _current


def install(tracer: Tracing | None) -> None:
    """Use ``tracer`` from now on; ``None`` turns tracing off for good."""
    global _current, _off
    _current = tracer
    _off = tracer is None


def look_again() -> None:
    """Ask the loader at the next run (after configuring a provider, in tests)."""
    global _next_look, _off
    _next_look = 0.0
    _off = False


def event_on(scope: Any, name: str, attributes: Mapping[str, Any]) -> None:
    """An event on a given span (a run's retry decision)."""
    tracer = _current
    if tracer is not None:
        tracer.add_event(scope, name, attributes)


def event(name: str, attributes: Mapping[str, Any]) -> None:
    """An event on the span current here (a deferral, inside a task body)."""
    tracer = _current
    if tracer is not None:
        tracer.add_event(None, name, attributes)


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any]) -> Iterator[None]:
    """A child span of the current one when tracing is on; nothing otherwise."""
    tracer = _current
    if tracer is None:
        yield
        return
    with tracer.span(name, attributes):
        yield


def end_attempt_span(attempt: Any, error: BaseException | None, outcome: str | None = None) -> None:
    """Close an attempt's span with how it ended (a suspension is not a failure)."""
    tracer = _current
    if tracer is None or attempt.trace is None:
        return
    if outcome is None:
        if isinstance(error, Suspend):
            outcome, error = "suspended", None
        else:
            outcome = "succeeded" if error is None else "failed"
    tracer.end_attempt(attempt.trace, error, outcome)
    attempt.trace = None
