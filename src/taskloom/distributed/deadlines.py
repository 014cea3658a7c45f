"""A worker's side of run deadlines: stop distributed runs that exceed their workflow timeout.

A run submitted with a workflow timeout carries a deadline on the database
clock (:mod:`taskloom.journal.postgres_deadlines`). Any worker that serves
the run's workflow may stop it; two triggers make that prompt without a
scan of the runs:

* **A local timer** for each run this worker is running a task of. The
  claim returns the seconds left to the deadline by the database's clock, so
  the timer needs no agreement between clocks. The run stops on time, and
  this worker's own attempts of it are dropped at once (an async body is
  cancelled, a sync body's result discarded), as a local timeout does.
* **The fallback poll** (every ``poll_interval``) asks for running runs past
  their deadline, through an index that holds only running runs with a
  deadline. It covers runs no worker is running a task of (a retry waiting
  for its backoff, a task no worker has claimed yet).

Whichever fires first stops the run in one transaction; the others find it
ended. Tasks claimed after the deadline are never started: the worker
stops their run instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from taskloom.core.decisions import workflow_timeout_reason
from taskloom.journal.postgres_deadlines import (
    RunDeadline,
    expired_runs,
    is_lock_conflict,
    lock_open_tasks,
    run_deadline,
)

if TYPE_CHECKING:
    import psycopg

    from taskloom.journal.postgres_queue import TaskQueue
    from taskloom.journal.queue_records import FinishedCount

logger = logging.getLogger("taskloom")

#: Overdue runs stopped per fallback poll at most (the next poll takes the rest).
POLL_BATCH = 32
#: Try again this soon when another transaction held one of the run's rows.
BUSY_RETRY_S = 0.05
#: After this many such conflicts in a row (about a second) the run is stopped without
#: waiting for its rows to be free: rows still held are left to their holders.
MAX_CONFLICTS = 20
#: Try again this much later after any other error (the database may be away).
ERROR_RETRY_S = 1.0

_Outcome = Literal["stopped", "ended", "waiting", "none"]

#: Records a stopped run's end inside the stopping transaction: (conn, run, reason).
Finish = Callable[["psycopg.Connection[Any]", "FinishedCount", str], None]


class RunDeadlines:
    """Deadline timers of the runs a worker is working on, and the stop itself."""

    def __init__(
        self,
        queue: TaskQueue,
        loop: asyncio.AbstractEventLoop,
        workflows: Sequence[str],
        finish: Finish,
        ended: Callable[[str], None],
    ) -> None:
        """``finish`` records the outcome of a run being stopped (the worker builds it
        from the run's plan); ``ended(run_id)`` is told once a run is known to have
        ended, so the worker drops what it still runs of it."""
        self._queue = queue
        self._loop = loop
        self._workflows = list(workflows)
        self._finish = finish
        self._ended = ended
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._conflicts: dict[str, int] = {}

    def watch(self, run_id: str, due: float) -> None:
        """Stop ``run_id`` at loop time ``due`` unless it has ended by then."""
        if run_id not in self._timers:
            self._timers[run_id] = self._loop.call_at(due, self._fire, run_id)

    def unwatch(self, run_id: str) -> None:
        """This worker runs nothing of ``run_id`` any more: the fallback poll covers it."""
        timer = self._timers.pop(run_id, None)
        if timer is not None:
            timer.cancel()

    def check(self) -> None:
        """The fallback poll's part: stop the overdue runs of this worker's workflows."""
        try:
            overdue = expired_runs(self._queue, self._workflows, POLL_BATCH)
        except Exception:
            logger.exception("taskloom worker could not look for runs past their deadline")
            return
        for run_id in overdue:
            self.expire(run_id)

    def expire_soon(self, run_id: str) -> None:
        """Stop ``run_id`` on the next loop turn (a task of it was claimed after its deadline)."""
        self._again(run_id, 0.0)

    def expire(self, run_id: str) -> None:
        """Stop the run if it is past its deadline; re-arm its timer if it is not yet."""
        self.unwatch(run_id)
        conflicts = self._conflicts.pop(run_id, 0)
        exact = conflicts < MAX_CONFLICTS
        try:
            outcome, state = self._stop(run_id, exact)
        except Exception as exc:
            if is_lock_conflict(exc):
                self._conflicts[run_id] = conflicts + 1
                self._again(run_id, BUSY_RETRY_S)
                return
            logger.exception("taskloom worker could not stop run %s at its deadline", run_id)
            self._again(run_id, ERROR_RETRY_S)
            return
        if outcome == "waiting" and state is not None and state.time_left is not None:
            # Not due yet by the database's clock (this loop's ran ahead): wait for it.
            self.watch(run_id, self._loop.time() + state.time_left)
            return
        if outcome == "stopped" and state is not None:
            logger.warning("run %s stopped at its deadline: %s", run_id, self._reason(state))
        if outcome in ("stopped", "ended"):
            self._ended(run_id)
        if outcome == "stopped" and not exact:
            # Once more, for the rows that were held: cancel what is left open of it.
            self.expire_soon(run_id)

    def close(self) -> None:
        """Cancel every timer (the worker stops)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _fire(self, run_id: str) -> None:
        self._timers.pop(run_id, None)
        self.expire(run_id)

    def _again(self, run_id: str, delay: float) -> None:
        self.unwatch(run_id)
        self._timers[run_id] = self._loop.call_later(delay, self._fire, run_id)

    def _stop(self, run_id: str, exact: bool = True) -> tuple[_Outcome, RunDeadline | None]:
        """One transaction: read the run; if due, lock its open rows, then stop and finish it.

        ``"stopped"``: this call ended it. ``"ended"``: it had ended (or
        vanished); its leftover open rows, if any, are cancelled. ``"waiting"``:
        its deadline is still ahead. ``"none"``: it has no deadline.

        Not ``exact`` (a busy run whose rows were never all free at once): the
        rows are not locked first, so ``stop_run`` skips the ones a concurrent
        transaction holds, as a cancel does. A completion being recorded then
        still counts (the run stays timed out); a dependent it releases is
        cancelled by the first worker that claims it (the claim reports the
        deadline as passed, see :meth:`expire_soon`), never started.
        """
        queue = self._queue
        with queue.recording() as conn:  # keyed plans, as the completions (shared statements)
            state = run_deadline(conn, run_id)
            if state is None:
                return "ended", None
            if not state.due:
                return ("none" if state.time_left is None else "waiting"), state
            if exact:
                lock_open_tasks(conn, run_id)
            finished = queue.stop_run(conn, run_id)
            if finished is None:
                return "ended", state
            self._finish(conn, finished, self._reason(state))
            return "stopped", state

    @staticmethod
    def _reason(state: RunDeadline) -> str:
        return workflow_timeout_reason(state.workflow_name, state.workflow_timeout or 0.0)
