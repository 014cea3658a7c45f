"""Twin of ``auto_workflow.tracing`` (taskloom.dataflow.hooks.tracing)."""

from taskloom.dataflow.hooks.tracing import DummyTracer, get_tracer, set_tracer

__all__ = ["DummyTracer", "get_tracer", "set_tracer"]
