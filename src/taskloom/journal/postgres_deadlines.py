"""Run deadlines in the distributed queue: find the runs past theirs, lock one to stop it.

A run submitted with a workflow timeout records ``runs.deadline`` (the
database clock when it was inserted, plus the timeout) and the timeout
itself (the error text names it). Stopping such a run reuses what stops a
``fail_fast`` or cancelled run (:meth:`TaskQueue.stop_run`: every
unfinished task ``Cancelled``, running ones lose their fence; then
:meth:`TaskQueue.finish_run_notify`: status, ``run_finished`` event,
``run_done`` notification). What this module adds is finding the runs that
are due, and the lock order that makes the stop exact (``lock_open_tasks``
in ``sql/postgres_deadlines.sql``): the run's open task rows are locked
first, without waiting, so that no completion of the run is half done while
it is stopped -- the run ends once, either completed or timed out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskloom.journal.records import RunStatus
from taskloom.journal.sqlfiles import load_queries

if TYPE_CHECKING:
    import psycopg

    from taskloom.journal.postgres_queue import TaskQueue

_FILE = "postgres_deadlines.sql"

#: SQLSTATE of ``FOR UPDATE NOWAIT`` meeting a row another transaction holds.
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True, slots=True)
class RunDeadline:
    """Where a run stands against its deadline, read on the database clock."""

    status: str
    #: Seconds left until the deadline; negative once past it, None without a deadline.
    time_left: float | None
    workflow_name: str
    workflow_timeout: float | None

    @property
    def due(self) -> bool:
        """Stop it now: it runs past its deadline, or it ended (what is left open goes too).

        An ended run may still have open rows: a cancel skips the rows locked by a
        concurrent transaction (``stop_run``), such as this worker's expiry.
        """
        if self.status != RunStatus.RUNNING:
            return True
        return self.time_left is not None and self.time_left <= 0


def expired_runs(queue: TaskQueue, workflows: Sequence[str], limit: int) -> list[str]:
    """Running runs past their deadline whose workflow is one of ``workflows`` (claim keys),
    the most overdue first; nothing is locked."""
    if not workflows or limit <= 0:
        return []
    with queue.journal.connection() as conn:
        rows = conn.execute(
            load_queries(_FILE)["expired_runs"],
            {"workflows": list(workflows), "limit": limit},
        ).fetchall()
    return [str(r[0]) for r in rows]


def run_deadline(conn: psycopg.Connection[Any], run_id: str) -> RunDeadline | None:
    """The run's status and time left (None if there is no such run)."""
    row = conn.execute(load_queries(_FILE)["run_deadline"], (run_id,)).fetchone()
    if row is None:
        return None
    return RunDeadline(
        status=str(row[0]),
        time_left=None if row[1] is None else float(row[1]),
        workflow_name=str(row[2]),
        workflow_timeout=None if row[3] is None else float(row[3]),
    )


def lock_open_tasks(conn: psycopg.Connection[Any], run_id: str) -> None:
    """Lock every unfinished task row of the run, before its run row (see module doc).

    Fails the transaction with SQLSTATE :data:`LOCK_NOT_AVAILABLE` if another
    transaction holds one of them (a completion, a claim, a heartbeat): try
    again a moment later. In a pipeline the error surfaces at the next read.
    """
    conn.execute(load_queries(_FILE)["lock_open_tasks"], (run_id,))


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` (a ``JournalError`` or psycopg error) is :data:`LOCK_NOT_AVAILABLE`."""
    cause: BaseException | None = exc
    while cause is not None:
        if getattr(cause, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return True
        cause = cause.__cause__
    return False
