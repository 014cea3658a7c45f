"""Twin of ``auto_workflow.events``: ``subscribe(event, callback)`` and ``emit``."""

from taskloom.dataflow.hooks.named_events import emit, subscribe

__all__ = ["emit", "subscribe"]
