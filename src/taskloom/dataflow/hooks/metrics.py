"""auto_workflow's metrics provider: counters and histograms fed by lifecycle events.

``set_metrics_provider(p)`` picks where numbers go; the default
:class:`InMemoryMetrics` keeps them in dicts (``counters``,
``histograms``). Counted, as in auto_workflow: ``tasks_succeeded``,
``tasks_failed`` and ``task_duration_ms`` (from the engine's lifecycle
events, every style), ``cache_hits`` and ``cache_sets`` (dataflow result
cache) and ``dedup_joins`` (an identical call already running was joined).

The adapter is installed by the first ``set_metrics_provider`` or
``get_metrics_provider`` call; until then nothing is counted and the engine
pays nothing.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from taskloom.core.events import LifecycleEvent
from taskloom.dataflow.hooks import named_events


class MetricsProvider(Protocol):
    """Where counters and observations go."""

    def inc(self, name: str, value: float = 1.0, **labels: Any) -> None: ...

    def observe(self, name: str, value: float, **labels: Any) -> None: ...


class InMemoryMetrics:
    """Counters and lists of observations in this process (thread-safe)."""

    def __init__(self) -> None:
        self.counters: dict[str, float] = {}
        self.histograms: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def inc(self, name: str, value: float = 1.0, **labels: Any) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0.0) + value

    def observe(self, name: str, value: float, **labels: Any) -> None:
        with self._lock:
            self.histograms.setdefault(name, []).append(value)


_provider: MetricsProvider = InMemoryMetrics()


def set_metrics_provider(provider: MetricsProvider) -> None:
    """Send metrics to ``provider`` from now on."""
    global _provider
    if not callable(getattr(provider, "inc", None)) or not callable(
        getattr(provider, "observe", None)
    ):
        raise TypeError(
            f"set_metrics_provider({provider!r}): a provider needs inc(name, value=1.0, "
            "**labels) and observe(name, value, **labels)"
        )
    _provider = provider
    _attach()


def get_metrics_provider() -> MetricsProvider:
    """The provider in use."""
    _attach()
    return _provider


def _attach() -> None:
    if not named_events.attached(_on_event):
        named_events.attach(_on_event)


def count(name: str, value: float = 1.0) -> None:
    """``inc`` on the provider (the result cache's hits, sets and joins), once in use."""
    if named_events.attached(_on_event):
        _provider.inc(name, value)


def _on_event(event: LifecycleEvent) -> None:
    if event.kind == "task_succeeded":
        labels = {"task": event.task_name}
        _provider.inc("tasks_succeeded", 1.0, **labels)
        if event.duration is not None:
            _provider.observe("task_duration_ms", event.duration * 1000.0, **labels)
    elif event.kind == "task_failed":
        _provider.inc("tasks_failed", 1.0, task=event.task_name)


__all__ = [
    "InMemoryMetrics",
    "MetricsProvider",
    "count",
    "get_metrics_provider",
    "set_metrics_provider",
]
