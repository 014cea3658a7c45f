"""Twin of the ``auto_workflow`` package: its top-level names.

``import taskloom.compat.auto_workflow as auto_workflow`` (or plain
``import taskloom``, which has the same names) replaces
``import auto_workflow``; each public submodule has a twin beside this one.
Connectors to external systems (``auto_workflow.connectors``) are out of
scope.
"""

# The twins named like functions are imported first: importing a submodule sets
# the package attribute of its name, which must end up being the function.
from taskloom.compat.auto_workflow import flow as _flow_module  # noqa: F401
from taskloom.compat.auto_workflow import task as _task_module  # noqa: F401
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
