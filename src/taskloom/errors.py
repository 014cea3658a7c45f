"""Exceptions raised by taskloom.

Every error a user can provoke names the thing at fault (task id, context key,
argument) and says what to do about it, so the classes here are thin: the
message carries the information.
"""

from __future__ import annotations


class TaskloomError(Exception):
    """Base class of every error taskloom raises on purpose."""


class WorkflowValidationError(TaskloomError, ValueError):
    """A workflow definition is invalid (missing dependency, cycle, empty, ...).

    Subclasses ``ValueError`` because Cloaca raises ``ValueError`` there.
    """


class TaskTimeoutError(TaskloomError, TimeoutError):
    """An attempt of a task ran longer than its timeout.

    Subclasses ``TimeoutError`` so that transient-error retry conditions
    treat it as transient.
    """


class TaskFailedError(TaskloomError):
    """Raised where a caller asked for a task's value but the task failed."""


class RunNotFoundError(TaskloomError, KeyError):
    """No run with the given id is recorded in the journal."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message
        return str(self.args[0]) if self.args else "run not found"


class JournalError(TaskloomError, RuntimeError):
    """The journal could not be opened, migrated or written.

    Subclasses ``RuntimeError`` because Cloaca raises ``RuntimeError`` when
    its database cannot be set up or used.
    """


class RunnerSetupError(JournalError):
    """A runner could not reach or set up its database.

    The message starts with Cloaca's words, "Failed to set up schema", and
    then says which database and what failed; the driver's exception is
    kept as ``__cause__``.
    """


class GraphNodeError(TaskloomError, RuntimeError):
    """A node of a computation graph raised; the message names the graph and the node.

    The node's own exception is kept as ``__cause__``.
    """


class ClaimLostError(JournalError):
    """A worker tried to record work under a claim it no longer holds.

    Its lease expired (it froze, or could not reach the database) and another
    worker took the task over: what it did since is not recorded (at-least-once
    bodies, exactly-once records), and it stops the attempt.
    """


class AggregateTaskError(TaskloomError):
    """Several tasks of a flow run failed (``failure_policy="aggregate"``).

    ``errors`` maps each failed node (``"task#n"``) to its exception.
    """

    def __init__(self, message: str, errors: dict[str, BaseException]) -> None:
        super().__init__(message)
        self.errors = errors


class UnencodableValueError(TaskloomError, TypeError):
    """A value cannot be recorded by the safe codec (and the task did not opt in to pickle).

    The message names the task, the type and how to register it. Subclasses
    ``TypeError``, which is what taskloom raised here before.
    """


class ValueRefusedError(TaskloomError):
    """A recorded value was not loaded because loading it could run code.

    An unsigned or tampered pickle, or a type nobody registered: the run
    fails with this error instead of executing what the journal holds.
    """


class RunStateError(TaskloomError, ValueError):
    """A run is not in a state that allows what was asked (retrying a running run, ...)."""


class AdoptionRefused(TaskloomError):
    """A run cannot continue on the current version of its workflow; the message says why."""


class ProcessDiedError(TaskloomError):
    """The processes running one attempt of a task died ``max_process_deaths`` times.

    A task that kills its process (``os._exit``, a segfault, the OOM killer)
    would otherwise take down every runner that resumes it. The attempt
    fails with this error instead of running again, and the task's retry
    policy decides what follows (see :mod:`taskloom.core.deaths`).
    """


# -- auto_workflow's hierarchy ------------------------------------------------
# auto_workflow's base error is :class:`TaskloomError`; what a failed task of a
# flow raises out of ``flow.run`` is a :class:`TaskExecutionError` naming the
# task, with the task's own exception as ``original`` and ``__cause__``.


class InvalidGraphError(TaskloomError, ValueError):
    """A graph cannot be run as built (auto_workflow's ``InvalidGraphError``)."""


class CycleDetectedError(InvalidGraphError):
    """A graph has a cycle; ``cycle`` lists the nodes on it (or left unsorted)."""

    def __init__(self, cycle: list[str], message: str | None = None) -> None:
        self.cycle = list(cycle)
        super().__init__(message or f"Cycle detected in DAG: {' -> '.join(self.cycle)}")


class TaskExecutionError(TaskloomError):
    """A task of a flow failed for good.

    ``task_name`` is the task (``"fetch"``), ``node`` the call in the flow
    (``"fetch#2"``), ``original`` the exception the task raised (also the
    ``__cause__``). After a resume in another process only the recorded text
    of that exception exists; ``original`` is then a :class:`TaskFailedError`.
    """

    def __init__(self, task_name: str, original: BaseException, *, node: str | None = None) -> None:
        self.task_name = task_name
        self.node = node
        self.original = original
        where = f" (node {node})" if node is not None and node != task_name else ""
        super().__init__(f"Task '{task_name}'{where} failed: {original!r}")
        self.__cause__ = original


class RetryExhaustedError(TaskExecutionError):
    """A task with retries failed on its last attempt."""


class TaskExecutionTimeoutError(TaskExecutionError, TaskTimeoutError):
    """A task's last attempt ran over its timeout (auto_workflow's ``TimeoutError``).

    Also a :class:`TaskTimeoutError` and so a builtin ``TimeoutError``.
    """
