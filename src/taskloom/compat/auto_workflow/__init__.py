"""Twin of the ``auto_workflow`` package: its top-level names.

``import taskloom.compat.auto_workflow as auto_workflow`` (or plain
``import taskloom``, which has the same names) replaces
``import auto_workflow``; each public submodule has a twin beside this one.
Connectors to external systems (``auto_workflow.connectors``) are out of
scope.
"""

from taskloom.dataflow.context import get_context
from taskloom.dataflow.flow import Flow, fan_out, flow
from taskloom.dataflow.hooks.named_events import subscribe
from taskloom.dataflow.policy import FailurePolicy
from taskloom.task import TaskDefinition, task

__all__ = [
    "FailurePolicy",
    "Flow",
    "TaskDefinition",
    "fan_out",
    "flow",
    "get_context",
    "subscribe",
    "task",
]
