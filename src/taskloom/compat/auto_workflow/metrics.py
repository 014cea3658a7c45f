"""Twin of ``auto_workflow.metrics``: module-level ``inc``/``observe`` on the metrics provider."""

from __future__ import annotations

from typing import Any

from taskloom.dataflow.hooks.metrics import InMemoryMetrics, get_metrics_provider


def inc(name: str, value: float = 1.0) -> None:
    """Add ``value`` to counter ``name`` of the provider in use."""
    get_metrics_provider().inc(name, value)


def observe(name: str, value: float) -> None:
    """Record ``value`` in histogram ``name`` of the provider in use."""
    get_metrics_provider().observe(name, value)


def snapshot() -> dict[str, Any]:
    """Counters and histograms of the provider, if it keeps them (``InMemoryMetrics``)."""
    provider = get_metrics_provider()
    if not isinstance(provider, InMemoryMetrics):
        return {"counters": {}, "histograms": {}}
    return {
        "counters": dict(provider.counters),
        "histograms": {k: list(v) for k, v in provider.histograms.items()},
    }


__all__ = ["inc", "observe", "snapshot"]
