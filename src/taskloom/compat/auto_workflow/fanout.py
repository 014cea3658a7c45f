"""Twin of ``auto_workflow.fanout``."""

from taskloom.dataflow.flow import fan_out

__all__ = ["fan_out"]
