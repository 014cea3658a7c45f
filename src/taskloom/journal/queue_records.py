"""The records the distributed queue takes and gives: queued, claimed and completed tasks.

Plain frozen values shared by the queue's SQL primitives
(:mod:`taskloom.journal.postgres_queue`), the client that enqueues runs and
the workers that claim and complete their tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def workflow_key(name: str, version: str, kind: str = "dag") -> str:
    """How a task row names its run's workflow version (what claims filter on).

    DAG runs keep the plain ``name@version`` of schema 2; other kinds are
    prefixed (``flow:etl@3fa2...``) so that a flow and a DAG of the same
    name never share a claim key.
    """
    return f"{name}@{version}" if kind == "dag" else f"{kind}:{name}@{version}"


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """The shape of one task of a new distributed run."""

    key: str
    deps: int
    priority: int = 0
    #: A concurrency group of the run (``fan_out(..., max_concurrency=)``) and its limit.
    group: str | None = None
    group_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Growth:
    """Tasks that join a distributed run when one of its tasks completes.

    A dynamic ``fan_out``'s calls: inserted Ready (each depends on ``after``
    alone) by :meth:`TaskQueue.send_grow` in the transaction that records
    ``after``'s completion, and only if that completion is accepted under
    ``fence``. ``collector`` then waits for them instead of for ``after``.
    """

    run_id: str
    after: str
    fence: int
    collector: str
    tasks: Sequence[QueuedTask]
    #: The run's :func:`workflow_key` and ``max_concurrency``, copied onto every new row.
    workflow: str
    run_limit: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task row this worker now owns, with what it needs to run it."""

    run_id: str
    task_key: str
    attempt: int
    fence: int
    reclaimed: bool
    workflow_name: str
    workflow_version: str
    input_json: str
    kind: str = "dag"
    #: Seconds from the claim to the run's deadline on the database clock (None: no deadline).
    time_left: float | None = None
    #: The run's default per-attempt timeout of tasks that set none (None: not recorded).
    task_timeout: float | None = None
    #: Workers that died (or froze past the lease) holding this attempt, counting this
    #: takeover; 0 for a fresh attempt (see :mod:`taskloom.core.deaths`).
    deaths: int = 0

    def outcome(self, status: str, **fields: Any) -> Completion:
        """The record of what became of this claim, under its fence (see :class:`Completion`)."""
        return Completion(self.run_id, self.task_key, self.fence, status, **fields)


@dataclass(slots=True)
class Completion:
    """The outcome of one claimed task, to be recorded under its fence.

    ``status`` is Completed, Failed, Skipped, Retrying (then ``delay`` is
    the backoff before it may be claimed again) or Suspended (then
    ``wake_in`` is the number of seconds after which it may be claimed
    again, counted on the database's clock; None: only a signal wakes it).
    """

    run_id: str
    task_key: str
    fence: int
    status: str
    output_json: str | None = None
    error: str | None = None
    traceback: str | None = None
    delay: float = 0.0
    #: False when the task was decided without running (skipped, bad trigger rule).
    attempted: bool = True
    event_kind: str = ""
    event_data: str | None = None
    wake_in: float | None = None


@dataclass(frozen=True, slots=True)
class Speculation:
    """A run's outcome computed before knowing whether a commit ends it.

    It holds if, when the run's last open task is counted off, the run has
    exactly ``failed`` Failed rows (the batch's own failed completions).
    """

    run_id: str
    status: str
    final_json: str
    error: str | None
    failed: int


#: SQLSTATE of a one-round-trip commit that ended a run it had no (valid) outcome for.
UNSETTLED = "TL001"


@dataclass(frozen=True, slots=True)
class FinishedCount:
    """A run whose last open task was just counted off."""

    run_id: str
    workflow_name: str
    workflow_version: str
    input_json: str
    kind: str = "dag"
