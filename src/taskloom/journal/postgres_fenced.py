"""Rows a worker writes while it runs a task are fenced like its completion.

A step workflow on a worker records its steps and operations as it goes
(through the worker's group-committing writer), not only at its end. A
worker frozen past its lease (SIGSTOP, a long pause) wakes up after another
worker took the run over and replayed it: its late *completion* is rejected
by the fence, and so must be every row it would write since -- else an
operation is recorded twice and the steps after it run twice.

So such a batch is written only if, in the same transaction, every claim
it is written under is still this worker's (same fence, still Running);
the claims are locked until the commit, so no takeover slips in between.
Otherwise nothing is written and :class:`~taskloom.errors.ClaimLostError`
tells the worker to stop the attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from taskloom.errors import ClaimLostError
from taskloom.journal.records import Batch
from taskloom.journal.sqlfiles import load_queries

if TYPE_CHECKING:
    from taskloom.journal.postgres import PostgresJournal


def write_fenced(
    journal: PostgresJournal, batch: Batch, me: str, claims: Sequence[tuple[str, str, int]]
) -> None:
    """Write ``batch`` if worker ``me`` still holds a claim ``(run_id, key, fence)`` of
    each run it touches; else write nothing and raise :class:`ClaimLostError`."""
    if not batch:
        return
    runs = {t.run_id for t in batch.tasks} | {e.run_id for e in batch.events}
    runs |= {r.run_id for r in batch.runs}
    mine = [c for c in claims if c[0] in runs]
    query = load_queries("postgres_queue.sql")["held_claims"]
    with journal.transaction() as conn:
        held = {
            (run_id, key)
            for run_id, key in conn.execute(
                query,
                {
                    "run_ids": [c[0] for c in mine],
                    "keys": [c[1] for c in mine],
                    "fences": [c[2] for c in mine],
                    "me": me,
                },
            ).fetchall()
        }
        lost = sorted(runs - {run_id for run_id, key, _ in mine if (run_id, key) in held})
        if lost:
            raise ClaimLostError(
                f"worker {me} no longer holds run(s) {', '.join(lost)}: its lease expired and "
                "another worker took the task over, so what it did since is not recorded"
            )
        journal.write_in(conn, batch)
