"""Twin of ``auto_workflow.lifecycle``: release background resources."""

from __future__ import annotations


def shutdown() -> None:
    """Stop the shared process pool and the flow engines; both restart on next use.

    Safe to call more than once. Unfinished runs stay in the journal and resume.
    """
    from taskloom.core.shared_engines import shutdown_engines
    from taskloom.dataflow.process import shutdown_pool

    shutdown_pool()
    shutdown_engines()


__all__ = ["shutdown"]
