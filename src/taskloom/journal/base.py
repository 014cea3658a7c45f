"""The journal interface: the durable record every backend implements.

The engine talks only to this interface. A backend must make each
:meth:`Journal.write` atomic (all of a batch or none of it) and must let
several processes share one database without losing writes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from taskloom.journal.browse import ClaimRecord, Cursor, RunFilter, WorkflowStats
from taskloom.journal.records import (
    Batch,
    EventRecord,
    Reopening,
    RunnerRecord,
    RunRecord,
    SignalRecord,
    TaskRecord,
)


class Journal(ABC):
    """Durable store of runs, task states and events."""

    #: The URL the journal was opened from (for messages and the CLI).
    url: str

    @abstractmethod
    def create_run(self, run: RunRecord, tasks: Sequence[TaskRecord]) -> None:
        """Record a new run and its initial task rows in one transaction."""

    @abstractmethod
    def write(self, batch: Batch) -> None:
        """Apply a batch of task upserts, events and run updates atomically."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with that id, or ``None``."""

    @abstractmethod
    def list_runs(self, limit: int = 20, status: str | None = None) -> list[RunRecord]:
        """Most recent runs first."""

    @abstractmethod
    def get_tasks(self, run_id: str) -> list[TaskRecord]:
        """Every task row of a run, in the order they were created."""

    @abstractmethod
    def get_events(self, run_id: str) -> list[EventRecord]:
        """The run's event log, oldest first."""

    @abstractmethod
    def register_runner(self, runner: RunnerRecord) -> None:
        """Announce a live runner (insert or refresh)."""

    @abstractmethod
    def heartbeat(self, runner_id: str, at: float) -> None:
        """Refresh a runner's liveness timestamp."""

    @abstractmethod
    def unregister_runner(self, runner_id: str) -> None:
        """Forget a runner that shut down cleanly."""

    @abstractmethod
    def list_runners(self) -> list[RunnerRecord]:
        """Every registered runner."""

    @abstractmethod
    def unfinished_runs(self) -> list[RunRecord]:
        """Runs whose status is not terminal, oldest first."""

    @abstractmethod
    def claim_run(self, run_id: str, new_owner: str, expected_owner: str | None) -> bool:
        """Take ownership of an unfinished run if it still belongs to ``expected_owner``.

        Compare-and-set, so two runners racing to recover one orphan cannot
        both win. In the same transaction, the winner adds one to
        ``TaskRecord.deaths`` of each task of the run recorded as Running:
        the process running them died (see :mod:`taskloom.core.deaths`).
        """

    # -- signal inbox ---------------------------------------------------
    # Not abstract, so a backend written before signals existed still loads;
    # it only fails when a workflow actually sends or waits for an event.

    def send_signal(self, run_id: str, name: str, payload_json: str, at: float) -> int:
        """Append a signal to a run's inbox (its own transaction); returns its id."""
        raise NotImplementedError(f"{type(self).__name__} has no signal inbox")

    def get_signals(self, run_id: str, after_id: int = 0) -> list[SignalRecord]:
        """The run's signals with an id above ``after_id``, oldest first."""
        raise NotImplementedError(f"{type(self).__name__} has no signal inbox")

    def signals_after(self, after_id: int) -> list[tuple[int, str]]:
        """``(signal_id, run_id)`` of every signal above ``after_id`` (for wake-ups)."""
        raise NotImplementedError(f"{type(self).__name__} has no signal inbox")

    def latest_signal_id(self) -> int:
        """The highest signal id so far (0 when none)."""
        raise NotImplementedError(f"{type(self).__name__} has no signal inbox")

    # -- retries, cancels, deploys (journal/run_control_records.py) --------
    # Not abstract, like the signal inbox: a backend without them still loads.

    def record_shape(self, kind: str, name: str, version: str, digest: str, shape: str) -> None:
        """Keep the graph (JSON: task key -> dependency keys) a version ran with, once."""
        raise NotImplementedError(f"{type(self).__name__} records no workflow graphs")

    def get_shapes(self, kind: str, name: str, version: str) -> list[str]:
        """The graphs recorded for one workflow version (JSON texts), oldest first."""
        raise NotImplementedError(f"{type(self).__name__} records no workflow graphs")

    def reopen_run(self, reopening: Reopening) -> bool:
        """Put a run back to Running with new task rows, atomically; False if it changed.

        Compare-and-set on the run's status (and owner, when asked), so two
        retries (or a retry and a recovery) cannot both win.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot reopen runs")

    def request_cancel(self, run_id: str, reason: str, at: float) -> None:
        """Ask the live process that executes ``run_id`` to cancel it."""
        raise NotImplementedError(f"{type(self).__name__} has no cancel requests")

    def cancel_requests(self, owner_id: str) -> list[tuple[str, str]]:
        """``(run_id, reason)`` of cancels asked for running runs ``owner_id`` executes."""
        raise NotImplementedError(f"{type(self).__name__} has no cancel requests")

    def clear_cancel_request(self, run_id: str) -> None:
        """Forget the cancel asked for ``run_id`` (it was carried out)."""
        raise NotImplementedError(f"{type(self).__name__} has no cancel requests")

    # -- browsing (the dashboard) -------------------------------------------
    # Not abstract, so a backend written before the dashboard still loads;
    # only browsing it fails.

    def search_runs(
        self, filter: RunFilter, limit: int = 50, after: Cursor | None = None
    ) -> list[RunRecord]:
        """Runs matching ``filter``, newest first (``created_at``, then ``run_id``).

        ``after`` continues a page: only runs older than that ``(created_at,
        run_id)`` are returned (keyset pagination, cheap at any depth).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be browsed")

    def count_runs(self, filter: RunFilter) -> dict[str, int]:
        """How many runs match ``filter`` (its status ignored), per status."""
        raise NotImplementedError(f"{type(self).__name__} cannot be browsed")

    def latest_event_id(self, run_id: str | None = None) -> int:
        """The highest event id (of one run, or of the whole journal); 0 when none.

        Every change a page shows writes an event, so this one indexed lookup
        tells a live page whether anything changed since it last looked.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot be browsed")

    def workflow_names(self) -> list[str]:
        """The distinct workflow names of the runs, sorted (cheap: a walk of an index)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be browsed")

    def workflow_stats(self) -> list[WorkflowStats]:
        """Each workflow name, version and kind seen, most recently run first."""
        raise NotImplementedError(f"{type(self).__name__} cannot be browsed")

    def list_claims(self, limit: int = 1000) -> list[ClaimRecord]:
        """Tasks held by distributed workers now (only PostgreSQL has such claims)."""
        return []

    def parent_run(self, run_id: str) -> str | None:
        """The run that started this one as a child, when the backend records it."""
        return None

    @abstractmethod
    def cache_get(self, key: str, now: float) -> str | None:
        """The value recorded under ``key`` if it expires after ``now`` (epoch s), else None.

        Backs ``@task(cache_ttl=...)``: in the journal, a cached result
        survives restarts and is shared by every process on the database.
        """

    @abstractmethod
    def cache_put(self, key: str, value_json: str, expires_at: float) -> None:
        """Record (or replace) the cached value of ``key`` until ``expires_at`` (epoch s)."""

    # -- retention ------------------------------------------------------
    # Not abstract, so a backend written before retention existed still loads.

    def prunable_runs(self, ended_before: float, statuses: Sequence[str], limit: int) -> list[str]:
        """Ids of at most ``limit`` runs whose status is one of ``statuses`` and that
        ended before ``ended_before`` (epoch s), the oldest end first."""
        raise NotImplementedError(f"{type(self).__name__} does not support retention")

    def delete_runs(self, run_ids: Sequence[str]) -> list[str]:
        """Delete these runs with their tasks, events and signals, in one short
        transaction; a run that is not ended is left alone. Returns the recorded
        outputs of the deleted tasks (so files they point to can be removed)."""
        raise NotImplementedError(f"{type(self).__name__} does not support retention")

    @abstractmethod
    def close(self) -> None:
        """Release connections. The journal is unusable afterwards."""
