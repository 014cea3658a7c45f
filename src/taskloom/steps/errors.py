"""Errors of the durable step style.

The failure of a step workflow is data (:class:`ErrorDetails`) recorded in
the journal, so a caller in another process -- or after a restart -- gets
the same structured error the step produced.
"""

from __future__ import annotations

from taskloom.errors import RunNotFoundError, TaskloomError
from taskloom.steps.directives import ErrorDetails


class WorkflowError(TaskloomError):
    """Base of the step style's workflow errors (grctl's ``WorkflowError``).

    ``except WorkflowError`` around ``run_workflow`` catches a failed run,
    as in grctl.
    """


class WorkflowFailed(WorkflowError):
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


class WorkflowAlreadyRunning(WorkflowError):
    """``start_workflow`` was given the id of a workflow that is still running (or ran)."""


#: grctl's name of :class:`WorkflowAlreadyRunning`.
WorkflowAlreadyRunningError = WorkflowAlreadyRunning


class WorkflowNotFoundError(WorkflowError, RunNotFoundError):
    """No run with the given workflow id is recorded (also a ``RunNotFoundError``)."""


class WorkflowTypeNotRegisteredError(WorkflowError):
    """No step workflow of the given ``workflow_type`` is defined in this process."""


class NextDirectiveMissingError(WorkflowError, TypeError):
    """A step returned something other than a directive (``ctx.next....``)."""


class StoreKeyNotFoundError(KeyError):
    """``ctx.store.get(key)`` for a key no step has put (a ``KeyError``, as in grctl)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"ctx.store has no key {self.key!r}; put it in an earlier step first"
