"""Lifecycle events for observers: ``taskloom.subscribe(callback)``.

Tracing, metrics and progress bars want to know when runs and tasks start,
finish, fail and retry, for every authoring style. The scheduler reports
each of these moments here, from one place (:func:`lifecycle_event`).

Why a dispatcher thread: a subscriber is user code and may be slow or
raise. Calling it on the engine's event loop would stall every run, so
events are put on a queue and delivered, in order, by one daemon thread;
a subscriber that raises is logged and the others still get the event.
When nobody subscribed, the scheduler only tests one tuple for emptiness,
so observing costs nothing until it is used.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskloom.core.plan import Plan
    from taskloom.journal.records import RunRecord, TaskRecord

logger = logging.getLogger("taskloom")

#: The event kinds: run_started, run_finished, task_started, task_succeeded,
#: task_failed, task_retry, task_skipped.
KINDS = (
    "run_started",
    "run_finished",
    "task_started",
    "task_succeeded",
    "task_failed",
    "task_retry",
    "task_skipped",
)


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """One moment in the life of a run or of one of its tasks."""

    #: One of :data:`KINDS`.
    kind: str
    run_id: str
    workflow_name: str
    #: Wall-clock time of the event (epoch seconds).
    timestamp: float
    #: The node key (``"add#0"`` in a flow, the task id in a DAG); None for run events.
    task_key: str | None = None
    #: The task's name (its id); None for run events.
    task_name: str | None = None
    #: The attempt number (1 for the first) of task events.
    attempt: int | None = None
    #: Seconds the attempt (task events) or the run (run_finished) took.
    duration: float | None = None
    #: ``"ExcType: message"`` of task_failed / task_retry, the run's error of run_finished.
    error: str | None = None
    #: The run's final status of run_finished ("Completed", "Failed", "Cancelled").
    status: str | None = None
    #: task_started on a local engine: seconds from the task becoming ready (its
    #: dependencies done, or its retry due) to its start (waiting for a slot).
    queued: float | None = None


Subscriber = Callable[[LifecycleEvent], object]

#: Current subscribers; replaced (never mutated) so readers need no lock.
subscribers: tuple[Subscriber, ...] = ()

_lock = threading.Lock()
_queue: queue.SimpleQueue[LifecycleEvent | threading.Event] = queue.SimpleQueue()
_thread: threading.Thread | None = None


#: Task events whose record marks the end of an attempt (they carry its duration).
_ATTEMPT_ENDS = frozenset(("task_succeeded", "task_failed", "task_retry"))


def lifecycle_event(
    kind: str,
    run: RunRecord,
    plan: Plan,
    record: TaskRecord | None,
    queued: float | None = None,
) -> LifecycleEvent:
    """The event for one moment of ``run`` (``record`` None: a run event)."""
    now = time.time()
    if record is None:
        finished = kind == "run_finished"
        return LifecycleEvent(
            kind,
            run.run_id,
            plan.workflow_name,
            now,
            duration=(run.ended_at or now) - run.created_at if finished else None,
            error=run.error if finished else None,
            status=run.status if finished else None,
        )
    node = plan.nodes[record.task_key]
    ended = kind in _ATTEMPT_ENDS and record.started_at is not None
    return LifecycleEvent(
        kind,
        run.run_id,
        plan.workflow_name,
        now,
        task_key=record.task_key,
        task_name=node.name or node.label or record.task_key,
        attempt=record.attempt if kind != "task_skipped" else None,
        duration=(record.ended_at or now) - (record.started_at or now) if ended else None,
        error=record.error if kind in ("task_failed", "task_retry") else None,
        queued=queued,
    )


def subscribe(callback: Subscriber) -> Callable[[], None]:
    """Call ``callback(event)`` for every lifecycle event from now on.

    Events arrive on a dedicated thread, in the order they happened, shortly
    after they happen (so possibly after ``flow.run`` returned; use
    :func:`flush_events` to wait for them). Returns a function that
    unsubscribes; calling it twice is harmless.
    """
    global subscribers, _thread
    if not callable(callback):
        raise TypeError(f"subscribe({callback!r}): pass a function taking one event")
    with _lock:
        subscribers = (*subscribers, callback)
        if _thread is None:
            _thread = threading.Thread(target=_deliver, name="taskloom-events", daemon=True)
            _thread.start()

    def unsubscribe() -> None:
        global subscribers
        with _lock:
            subscribers = tuple(s for s in subscribers if s is not callback)

    return unsubscribe


def emit(event: LifecycleEvent) -> None:
    """Queue ``event`` for the subscribers (callers check :data:`subscribers` first)."""
    for channel in _channels:
        channel.queue.put(event)
    _queue.put(event)


class Channel:
    """A subscriber with a queue and a thread of its own, fed by :func:`emit` directly.

    For observers whose callers wait until they have seen a run's events
    (auto_workflow's hooks, whose callbacks ran before ``flow.run`` returned):
    waiting for them must never mean waiting for a slow, unrelated subscriber
    on the shared thread. The channel is listed in :data:`subscribers` only
    so that the scheduler emits; called there it does nothing.
    """

    def __init__(self, callback: Subscriber, name: str) -> None:
        self.callback = callback
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._deliver, name=name, daemon=True)

    def __call__(self, event: LifecycleEvent) -> None:
        """On the shared thread: nothing (delivery happens on the channel's thread)."""

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every event emitted so far reached the callback; False on timeout."""
        marker = threading.Event()
        self.queue.put(marker)
        return marker.wait(timeout)

    def _deliver(self) -> None:
        while True:
            item = self.queue.get()
            if item is _CLOSE:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                self.callback(item)
            except Exception:
                logger.exception(
                    "event channel %s raised on %s; ignored", self.thread.name, item.kind
                )


#: Put on a channel's queue by :func:`close_channel`: its thread ends there.
_CLOSE = object()

#: Open channels; replaced (never mutated), read by :func:`emit` without a lock.
_channels: tuple[Channel, ...] = ()


def open_channel(callback: Subscriber, name: str) -> Channel:
    """Deliver every lifecycle event from now on to ``callback`` on a thread of its own."""
    global subscribers, _channels, _thread
    channel = Channel(callback, name)
    channel.thread.start()
    with _lock:
        _channels = (*_channels, channel)
        subscribers = (*subscribers, channel)
        if _thread is None:
            _thread = threading.Thread(target=_deliver, name="taskloom-events", daemon=True)
            _thread.start()
    return channel


def flush_events(timeout: float | None = 5.0) -> bool:
    """Wait until every event emitted so far was delivered; False on timeout."""
    if _thread is None:
        return True
    marker = threading.Event()
    _queue.put(marker)
    return marker.wait(timeout)


def _deliver() -> None:
    while True:
        item = _queue.get()
        if isinstance(item, threading.Event):
            item.set()
            continue
        for callback in subscribers:
            try:
                callback(item)
            except Exception:
                logger.exception(
                    "event subscriber %s raised on %s; ignored",
                    getattr(callback, "__name__", callback),
                    item.kind,
                )


def close_channel(channel: Channel) -> None:
    """Stop delivering to ``channel``; its thread ends after the events already queued."""
    global subscribers, _channels
    with _lock:
        _channels = tuple(c for c in _channels if c is not channel)
        subscribers = tuple(s for s in subscribers if s is not channel)
    channel.queue.put(_CLOSE)
