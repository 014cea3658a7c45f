"""auto_workflow's event bus: ``subscribe(event, callback)`` and ``emit(event, payload)``.

Callbacks get dict payloads, as in auto_workflow. Two kinds of event reach them:

* **user events**: ``emit(name, payload)`` calls the subscribers of ``name``
  at once, in the caller's thread (auto_workflow's contract);
* **lifecycle events**, translated from the engine's own
  (:class:`~taskloom.core.events.LifecycleEvent`, every style):
  ``flow_started`` {flow, run_id}, ``flow_completed`` {flow, run_id, tasks,
  status, error}, ``task_started`` {task, node, ...}, ``task_succeeded``
  {..., duration_ms}, ``task_failed`` {..., error}, ``task_retry`` {task,
  attempt, max, ...}, ``task_skipped``. Every task payload also carries
  ``run_id``, ``flow`` and ``attempt``.

Lifecycle events reach these callbacks, and the tracer and metrics adapters,
on one thread of their own (an event channel, :func:`attach`); so that code
written for auto_workflow (whose callbacks run before ``flow.run`` returns)
sees them in time, ``flow.run`` waits until that thread has caught up
(:func:`settle`) while any of them is installed -- and only then. Other
subscribers of ``taskloom.subscribe(callback)`` are not waited for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from taskloom.core import events as core_events
from taskloom.core.events import LifecycleEvent
from taskloom.core.registry import lookup_task

logger = logging.getLogger("taskloom")

Callback = Callable[[dict[str, Any]], object]

Handler = Callable[[LifecycleEvent], object]

_lock = threading.Lock()
_named: dict[str, tuple[Callback, ...]] = {}
#: What the channel's thread calls for each event: the bridge to named callbacks,
#: the tracer and metrics adapters.
_handlers: tuple[Handler, ...] = ()
_channel: core_events.Channel | None = None
#: Task keys seen per run, for ``flow_completed``'s ``tasks`` count.
_seen: dict[str, set[str]] = {}

_NAMES = {
    "run_started": "flow_started",
    "run_finished": "flow_completed",
}


def subscribe(event: Any, callback: Callback | None = None) -> Callable[[], None]:
    """``subscribe(name, callback)``: auto_workflow's form, dict payloads.

    ``subscribe(callback)`` (one argument) is taskloom's own form and gets
    every :class:`LifecycleEvent` object instead. Either returns a function
    that unsubscribes.
    """
    if callback is None:
        return core_events.subscribe(event)
    if not isinstance(event, str) or not event:
        raise TypeError(f"subscribe({event!r}, ...): the event name must be a non-empty str")
    if not callable(callback):
        raise TypeError(f"subscribe({event!r}, {callback!r}): pass a function taking a dict")
    with _lock:
        _named[event] = (*_named.get(event, ()), callback)
    attach(_bridge)

    def unsubscribe() -> None:
        with _lock:
            kept = tuple(c for c in _named.get(event, ()) if c is not callback)
            if kept:
                _named[event] = kept
            else:
                _named.pop(event, None)

    return unsubscribe


def emit(event: str, payload: dict[str, Any]) -> None:
    """Call every subscriber of ``event`` with ``payload`` now; a raising one is logged."""
    for callback in _named.get(event, ()):
        try:
            callback(payload)
        except Exception:
            logger.exception("subscriber %r of event %r raised; ignored", callback, event)


def clear() -> None:
    """Forget every named subscriber (tests; auto_workflow has no such function)."""
    with _lock:
        _named.clear()


def reset() -> None:
    """Forget every named subscriber and hook, and stop the hooks' thread (tests)."""
    global _handlers, _channel
    with _lock:
        _named.clear()
        _handlers = ()
        channel, _channel = _channel, None
    if channel is not None:
        core_events.close_channel(channel)


def attached(handler: Handler) -> bool:
    """True if ``handler`` receives events."""
    return handler in _handlers


def attach(handler: Handler) -> Callable[[], None]:
    """Call ``handler(event)`` for every lifecycle event on the hooks' thread; returns detach."""
    global _handlers, _channel
    with _lock:
        if handler not in _handlers:
            _handlers = (*_handlers, handler)
        if _channel is None:
            _channel = core_events.open_channel(_dispatch, "taskloom-hooks")

    def detach() -> None:
        global _handlers
        with _lock:
            _handlers = tuple(h for h in _handlers if h is not handler)

    return detach


def _dispatch(event: LifecycleEvent) -> None:
    for handler in _handlers:
        try:
            handler(event)
        except Exception:
            logger.exception("hook %r raised on %s; ignored", handler, event.kind)


def settle() -> None:
    """Wait until the hooks' thread has seen every event emitted so far (if any hook is on)."""
    channel = _channel
    if channel is None or not _handlers:
        return
    if threading.current_thread() is channel.thread:
        return  # a hook running a flow: waiting for ourselves would never end
    channel.flush()


def payload_of(event: LifecycleEvent) -> tuple[str, dict[str, Any]]:
    """auto_workflow's name and payload for one lifecycle event."""
    if event.task_key is None:
        payload: dict[str, Any] = {"flow": event.workflow_name, "run_id": event.run_id}
        if event.kind == "run_finished":
            payload["tasks"] = len(_seen.pop(event.run_id, ()))
            payload["status"] = event.status
            payload["error"] = event.error
        return _NAMES.get(event.kind, event.kind), payload
    payload = {
        "task": event.task_name,
        "node": event.task_key,
        "run_id": event.run_id,
        "flow": event.workflow_name,
        "attempt": event.attempt,
    }
    if event.kind in ("task_started", "task_skipped"):
        _seen.setdefault(event.run_id, set()).add(event.task_key)
    if event.kind == "task_succeeded" and event.duration is not None:
        payload["duration_ms"] = event.duration * 1000.0
    if event.kind in ("task_failed", "task_retry"):
        payload["error"] = event.error
    if event.kind == "task_retry":
        definition = lookup_task(event.task_name or "")
        payload["max"] = definition.retries if definition is not None else None
    return event.kind, payload


def _bridge(event: LifecycleEvent) -> None:
    name, payload = payload_of(event)
    emit(name, payload)


__all__ = [
    "attach",
    "attached",
    "clear",
    "emit",
    "payload_of",
    "reset",
    "settle",
    "subscribe",
]
