"""Twin of ``auto_workflow.metrics_provider`` (taskloom.dataflow.hooks.metrics)."""

from taskloom.dataflow.hooks.metrics import (
    InMemoryMetrics,
    MetricsProvider,
    get_metrics_provider,
    set_metrics_provider,
)

__all__ = ["InMemoryMetrics", "MetricsProvider", "get_metrics_provider", "set_metrics_provider"]
