"""Twin of ``auto_workflow.execution``: the shared process pool of ``run_in="process"``."""

from taskloom.dataflow.process import get_process_pool

__all__ = ["get_process_pool"]
