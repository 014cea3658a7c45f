"""Twin of ``auto_workflow.context`` (taskloom.dataflow.context)."""

from taskloom.dataflow.context import RunContext, get_context

__all__ = ["RunContext", "get_context"]
