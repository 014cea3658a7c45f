"""Twin of ``auto_workflow.task``: taskloom's one ``@task`` (the union of every style's options)."""

from taskloom.task import TaskDefinition, task

__all__ = ["TaskDefinition", "task"]
