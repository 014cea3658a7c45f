"""Retrying a distributed run, and finding distributed runs nobody works on (PostgreSQL).

A distributed run has no owner: its task rows carry their own readiness
(``remaining_deps``), claims and fences. A retry therefore cannot just flip
statuses as for a local run; it puts every restarted queue row back as
Ready (no restarted dependency) or Pending (with the count of restarted
dependencies), moves each fence (a completion from before the retry is
rejected), sets the run's count of open tasks, gives the run a fresh
deadline if it has a time limit, and wakes the workers -- one transaction.

Adopting a distributed run (a new version of its workflow continues it)
rewrites all its rows the same way, for the new version's claim key.

A distributed run is *stalled* when a claimable task of it has waited, or a
task's lease has been expired, for longer than a grace period: no worker
serves its workflow version (after a deploy), or none is running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskloom.journal.pgconnect import READY
from taskloom.journal.queue_records import workflow_key
from taskloom.journal.records import EventRecord, RunRecord, RunStatus, TaskRecord, TaskStatus

if TYPE_CHECKING:
    from taskloom.journal.postgres import PostgresJournal


def is_distributed(journal: PostgresJournal, run_id: str) -> bool:
    rows = journal._read("run_is_distributed", (run_id,))
    return bool(rows and rows[0][0])


def reopen(
    journal: PostgresJournal,
    run: RunRecord,
    rows: Sequence[TaskRecord],
    events: Sequence[EventRecord],
    deps: Mapping[str, Sequence[str]] | None,
) -> bool:
    """Put an ended distributed run back to work with ``rows``; False if it changed.

    ``deps``: each queue row's dependency keys (rows the workers claim); None
    when unknown, which is enough only for a run with one queue row (a step
    run's driver) -- else ``LookupError``.
    """
    q = journal._q
    with journal.transaction() as conn:
        locked = conn.execute(q["lock_run"], (run.run_id,)).fetchone()
        if locked is None or locked[0] != run.status:
            return False
        queued = {str(r[0]) for r in conn.execute(q["queued_keys"], (run.run_id,)).fetchall()}
        if deps is None:
            if len(queued) > 1:
                raise LookupError(f"the dependencies of run {run.run_id} are not known")
            deps = {}
        restarted = {r.task_key for r in rows if r.status == TaskStatus.PENDING}
        requeue = [r.task_key for r in rows if r.task_key in queued and r.task_key in restarted]
        plain = [r for r in rows if r.task_key not in queued]
        open_tasks = sum(
            1 for r in rows if r.task_key in queued and r.status not in TaskStatus.TERMINAL
        )
        updated = conn.execute(
            q["reopen_distributed"],
            {
                "run_id": run.run_id,
                "status": run.status,
                "version": run.workflow_version,
                "open": open_tasks,
            },
        ).fetchone()
        if updated is None:
            return False
        if plain:
            conn.execute(
                q["restore_rows"],
                {
                    "run_id": run.run_id,
                    "keys": [r.task_key for r in plain],
                    "statuses": [r.status for r in plain],
                    "attempts": [r.attempt for r in plain],
                    "outputs": [r.output_json for r in plain],
                },
            )
        if requeue:
            conn.execute(
                q["requeue_rows"],
                {
                    "run_id": run.run_id,
                    "keys": requeue,
                    "deps": [sum(1 for d in deps.get(k, ()) if d in restarted) for k in requeue],
                },
            )
        if events:
            journal._executemany(
                conn,
                q["insert_event"],
                [(e.run_id, e.task_key, e.kind, e.at, e.data_json) for e in events],
            )
        conn.execute(q["clear_cancel_request"], (run.run_id,))
        conn.execute("SELECT pg_notify(%s, '')", (journal.channel(READY),))
        return True


def stalled_runs(journal: PostgresJournal, grace: float) -> list[tuple[RunRecord, int]]:
    """Running distributed runs with a task nobody has claimed for ``grace`` seconds,
    and how many such tasks each has."""
    found: list[tuple[RunRecord, int]] = []
    with journal.connection() as conn:
        rows = conn.execute(journal._q["stalled_runs"], {"grace": grace}).fetchall()
    for row in rows:
        found.append((RunRecord(*row[:11]), int(row[11])))
    return found


@dataclass(frozen=True, slots=True)
class QueueShape:
    """What the queue needs of one task of the adopting version's plan."""

    deps: tuple[str, ...]
    priority: int = 0
    group: str | None = None
    group_limit: int | None = None


def adopt(
    journal: PostgresJournal,
    run: RunRecord,
    version: str,
    rows: Sequence[TaskRecord],
    events: Sequence[EventRecord],
    shape: Mapping[str, QueueShape],
    run_limit: int | None,
) -> str | None:
    """Rewrite a distributed run's rows for ``version``; None if done, else why not.

    Refused while a worker holds a live claim on one of its tasks (the run is
    not orphaned) or if the run changed meanwhile. Restarted rows become
    Ready, or Pending until their unfinished dependencies complete; every
    row's fence moves on, so a completion claimed before the adoption is
    rejected.
    """
    q = journal._q
    with journal.transaction() as conn:
        locked = conn.execute(q["lock_run"], (run.run_id,)).fetchone()
        if locked is None or locked[0] != RunStatus.RUNNING:
            return f"run {run.run_id} is no longer running"
        live = [str(r[0]) for r in conn.execute(q["live_claims"], (run.run_id,)).fetchall()]
        if live:
            return (
                f"a worker is running task(s) {', '.join(repr(k) for k in live)} of run "
                f"{run.run_id} now: it is not orphaned"
            )
        fences = {str(k): int(f) for k, f in conn.execute(q["fences"], (run.run_id,)).fetchall()}
        unfinished = {r.task_key for r in rows if r.status not in TaskStatus.TERMINAL}
        statuses: list[str] = []
        deps: list[int] = []
        for row in rows:
            waiting = sum(1 for d in shape[row.task_key].deps if d in unfinished)
            deps.append(waiting)
            if row.status == TaskStatus.PENDING and waiting == 0:
                statuses.append("Ready")
            else:
                statuses.append(row.status)
        updated = conn.execute(
            q["adopt_distributed"],
            {
                "run_id": run.run_id,
                "version": version,
                "open": len(unfinished),
                "old": run.workflow_version,
            },
        ).fetchone()
        if updated is None:
            return f"run {run.run_id} changed while it was being adopted"
        conn.execute(q["delete_run_tasks"], (run.run_id,))
        conn.execute(
            q["insert_adopted_rows"],
            {
                "run_id": run.run_id,
                "workflow": workflow_key(run.workflow_name, version, run.kind),
                "run_limit": run_limit,
                "keys": [r.task_key for r in rows],
                "statuses": statuses,
                "attempts": [r.attempt for r in rows],
                "next_retry_at": [r.next_retry_at for r in rows],
                "started_at": [r.started_at for r in rows],
                "ended_at": [r.ended_at for r in rows],
                "outputs": [r.output_json for r in rows],
                "errors": [r.error for r in rows],
                "tracebacks": [r.traceback for r in rows],
                "seqs": [r.seq for r in rows],
                "deps": deps,
                "fences": [fences.get(r.task_key, 0) + 1 for r in rows],
                "priorities": [shape[r.task_key].priority for r in rows],
                "groups": [shape[r.task_key].group for r in rows],
                "group_limits": [shape[r.task_key].group_limit for r in rows],
            },
        )
        if events:
            journal._executemany(
                conn,
                q["insert_event"],
                [(e.run_id, e.task_key, e.kind, e.at, e.data_json) for e in events],
            )
        conn.execute("SELECT pg_notify(%s, '')", (journal.channel(READY),))
    return None
