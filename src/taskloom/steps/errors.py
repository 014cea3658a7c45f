"""Errors of the durable step style.

The failure of a step workflow is data (:class:`ErrorDetails`) recorded in
the journal, so a caller in another process -- or after a restart -- gets
the same structured error the step produced.
"""

from __future__ import annotations

from taskloom.errors import TaskloomError
from taskloom.steps.directives import ErrorDetails


class WorkflowFailed(TaskloomError):
    """A step workflow ended in failure; ``details`` says why.

    Raised by ``WorkflowHandle.result()`` when a step returned
    ``ctx.next.fail(...)``.
    """

    def __init__(self, workflow_id: str, details: ErrorDetails, step: str | None = None) -> None:
        where = f" in step {step!r}" if step else ""
        super().__init__(
            f"workflow {workflow_id!r} failed{where}: {details.type}: {details.message}"
        )
        self.workflow_id = workflow_id
        self.details = details
        self.step = step


class StepFailed(WorkflowFailed):
    """A step raised an exception it did not catch (``details`` holds type, message, traceback)."""


class NonDeterminismError(TaskloomError):
    """A re-executed step called its operations differently than the recorded run.

    Replay trusts recorded results by position; when the calls no longer
    match, trusting them would hand a step the wrong values, so the run fails.
    """


class WorkflowAlreadyRunning(TaskloomError):
    """``start_workflow`` was given the id of a workflow that is still running."""
