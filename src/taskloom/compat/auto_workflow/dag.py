"""Twin of ``auto_workflow.dag``: the small graph type with cycle detection."""

from taskloom.dataflow.introspect import DAG

__all__ = ["DAG"]
