"""Twin of ``auto_workflow.flow``."""

from taskloom.dataflow.flow import Flow, flow

__all__ = ["Flow", "flow"]
