"""auto_workflow's tracer hook: ``set_tracer(t)`` / ``get_tracer()``, spans from lifecycle events.

A tracer has an async context manager ``span(name, **attrs)``. taskloom
opens ``flow:<name>`` (attribute ``run_id``) when a run starts and closes it
when the run finishes, and opens ``task:<name>`` (attributes ``node``,
``run_id``, ``attempt``) when an attempt starts and closes it when the
attempt ends -- raising the task's failure into the span on a failed or
retried attempt. The spans are driven by the engine's lifecycle events
(one adapter, no second mechanism), on the hooks' event thread, with a
private event loop for the tracer's ``async with``.

The default tracer records nothing and installs no adapter.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from taskloom.core.events import LifecycleEvent
from taskloom.dataflow.hooks import named_events
from taskloom.errors import TaskExecutionError, TaskFailedError

logger = logging.getLogger("taskloom")


class Tracer(Protocol):
    """What ``set_tracer`` takes."""

    def span(self, name: str, **attrs: Any) -> AbstractAsyncContextManager[Any]: ...


class DummyTracer:
    """auto_workflow's default: spans that record nothing."""

    @asynccontextmanager
    async def span(self, name: str, **attrs: Any) -> AsyncIterator[dict[str, Any]]:
        yield {"name": name, **attrs}


_default = DummyTracer()
_tracer: Tracer = _default
_lock = threading.Lock()
_adapter_off: Callable[[], None] | None = None


def get_tracer() -> Tracer:
    """The tracer in use."""
    return _tracer


def set_tracer(tracer: Tracer) -> None:
    """Use ``tracer`` for every run from now on (a ``DummyTracer`` switches tracing off)."""
    global _tracer, _adapter_off
    if not callable(getattr(tracer, "span", None)):
        raise TypeError(
            f"set_tracer({tracer!r}): a tracer needs a method span(name, **attrs) returning "
            "an async context manager"
        )
    with _lock:
        _tracer = tracer
        if isinstance(tracer, DummyTracer):
            if _adapter_off is not None:
                _adapter_off()
                _adapter_off = None
        elif _adapter_off is None:
            _adapter_off = named_events.attach(_spans.on_event)


class _Spans:
    """Open spans keyed by (run, node); driven on the event thread only."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.open: dict[tuple[str, str | None], AbstractAsyncContextManager[Any]] = {}

    def _run(self, step: Any) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(step)

    def on_event(self, event: LifecycleEvent) -> None:
        key = (event.run_id, event.task_key)
        if event.kind in ("run_started", "task_started"):
            if event.task_key is None:
                manager = _tracer.span(f"flow:{event.workflow_name}", run_id=event.run_id)
            else:
                manager = _tracer.span(
                    f"task:{event.task_name}",
                    node=event.task_key,
                    run_id=event.run_id,
                    attempt=event.attempt,
                )
            try:
                self._run(manager.__aenter__())
            except Exception:
                logger.exception("tracer span %r failed to open; ignored", event.kind)
                return
            self.open[key] = manager
        elif event.kind in ("run_finished", "task_succeeded", "task_failed", "task_retry"):
            if key not in self.open:
                return
            manager = self.open.pop(key)
            error: BaseException | None = None
            if (event.error is not None and event.kind != "run_finished") or (
                event.kind == "run_finished" and event.status != "Completed"
            ):
                error = TaskExecutionError(
                    event.task_name or event.workflow_name,
                    TaskFailedError(event.error or str(event.status)),
                    node=event.task_key,
                )
            try:
                self._run(manager.__aexit__(type(error) if error else None, error, None))
            except Exception as exc:
                if exc is not error:
                    logger.exception("tracer span of %s failed to close; ignored", event.kind)


_spans = _Spans()

__all__ = ["DummyTracer", "Tracer", "get_tracer", "set_tracer"]
