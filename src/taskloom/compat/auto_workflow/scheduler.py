"""Twin of ``auto_workflow.scheduler``: its public names (the scheduler is taskloom's engine)."""

from taskloom.dataflow.policy import FailurePolicy
from taskloom.dataflow.result_caches import InMemoryResultCache

__all__ = ["FailurePolicy", "InMemoryResultCache"]
