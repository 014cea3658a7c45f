"""Twin of ``auto_workflow.exceptions``: its hierarchy mapped onto taskloom.errors.

``AutoWorkflowError`` is :class:`~taskloom.errors.TaskloomError` (every
error taskloom raises on purpose); ``TimeoutError`` is
:class:`~taskloom.errors.TaskExecutionTimeoutError`, a ``TaskExecutionError``
that is also a builtin ``TimeoutError``.
"""

from taskloom.errors import (
    AggregateTaskError,
    CycleDetectedError,
    InvalidGraphError,
    RetryExhaustedError,
    TaskExecutionError,
)
from taskloom.errors import TaskExecutionTimeoutError as TimeoutError
from taskloom.errors import TaskloomError as AutoWorkflowError

__all__ = [
    "AggregateTaskError",
    "AutoWorkflowError",
    "CycleDetectedError",
    "InvalidGraphError",
    "RetryExhaustedError",
    "TaskExecutionError",
    "TimeoutError",
]
