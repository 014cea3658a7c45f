"""Twin of ``auto_workflow.logging_middleware`` (taskloom.dataflow.hooks.task_logging).

Importing taskloom installs no log handler (auto_workflow attaches one at
import); configure logging in the application.
"""

from taskloom.dataflow.hooks.task_logging import (
    register_structured_logging,
    structured_logging_middleware,
)

__all__ = ["register_structured_logging", "structured_logging_middleware"]
