"""Parent and child runs in the distributed queue: start once, wake the parent, cancel the tree.

A step run executed by a worker may start child step runs. The child's run
row names its parent (``runs.parent_id``, schema version 7) because the
database has to act on that link by itself, in the transactions that
matter:

* **Waking.** The parent waits without holding a worker (its driver is
  ``Suspended`` with no wake-up time). The transaction that records the
  child's end also makes the parent's driver claimable and notifies the
  workers (:func:`send_wake_parents`), so the wake-up costs no poll and is
  lost by no crash: either both commit or neither does.
* **Cancelling.** :func:`cancel_tree` cancels a run and its unfinished
  descendants in one transaction, locking the tree level by level so that
  a child being created concurrently is either seen and cancelled or not
  created at all (see ``insert_child_run``).

Deriving the parent from the parent's recorded ``__child__`` operation
instead would need a scan of operation outputs on every child's end, and
the operation may not be committed yet when the child ends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from taskloom.journal.queue_records import QueuedTask, workflow_key
from taskloom.journal.sqlfiles import load_queries

if TYPE_CHECKING:
    import psycopg

    from taskloom.journal.postgres import PostgresJournal
    from taskloom.journal.postgres_queue import TaskQueue
    from taskloom.journal.records import RunRecord

_FILE = "postgres_children.sql"

#: What :func:`enqueue_child` did.
ChildStart = Literal["created", "exists", "parent ended"]


def enqueue_child(queue: TaskQueue, run: RunRecord, task: QueuedTask, parent_id: str) -> ChildStart:
    """Insert child run ``run`` of ``parent_id`` with its one task, unless it exists already.

    One statement: the run, its ready task row, its ``run_started`` event and
    the workers' notification. Nothing is created once the parent has ended
    (a cancelled parent's step may still be running on a worker).
    """
    q = load_queries(_FILE)
    with queue.journal.transaction() as conn:
        row = conn.execute(
            q["insert_child_run"],
            {
                "parent": parent_id,
                "run_id": run.run_id,
                "name": run.workflow_name,
                "version": run.workflow_version,
                "kind": run.kind,
                "input_json": run.input_json,
                "created_at": run.created_at,
                "key": task.key,
                "workflow": workflow_key(run.workflow_name, run.workflow_version, run.kind),
                "event": json.dumps({"parent": parent_id}),
                "channel": queue.ready_channel,
            },
        ).fetchone()
    assert row is not None
    parent_running, created = bool(row[0]), bool(row[1])
    if created:
        return "created"
    return "exists" if parent_running else "parent ended"


def child_state(journal: PostgresJournal, run_id: str) -> tuple[str, str | None] | None:
    """``(status, parent_id)`` of a run, or None if there is no such run."""
    with journal.connection() as conn:
        row = conn.execute(load_queries(_FILE)["child_state"], (run_id,)).fetchone()
    return None if row is None else (str(row[0]), row[1])


def send_wake_parents(conn: psycopg.Connection[Any], run_ids: Sequence[str], channel: str) -> None:
    """Wake the parents of those of ``run_ids`` that have ended (in this transaction).

    Nothing to read back, so it rides in a pipeline before the commit.
    ``channel`` is the workers' ready channel, notified if a parent became
    claimable.
    """
    if run_ids:
        conn.execute(
            load_queries(_FILE)["wake_parents"], {"run_ids": list(run_ids), "channel": channel}
        )


def cancel_tree(
    queue: TaskQueue, conn: psycopg.Connection[Any], run_id: str, reason: str
) -> list[str]:
    """Cancel a running run and its unfinished descendants (inside ``conn``'s transaction).

    Returns the cancelled runs, the root first; empty if the root had
    already ended (its children then live on). A descendant's reason names
    the root. The root's own parent, if it waits for it, is woken.
    """
    q = load_queries(_FILE)
    if conn.execute(q["lock_running"], (run_id,)).fetchone() is None:
        return []
    tree = [run_id]
    seen = {run_id}
    level = [run_id]
    while level:
        level = [
            r for (r,) in conn.execute(q["lock_children"], (level,)).fetchall() if r not in seen
        ]
        seen.update(level)
        tree.extend(level)
    cancelled = [r for r in tree if queue.cancel_locked(conn, r, _reason(r, run_id, reason))]
    send_wake_parents(conn, [run_id], queue.ready_channel)
    return cancelled


def _reason(run_id: str, root: str, reason: str) -> str:
    return reason if run_id == root else f"{reason} (cancelled with run {root})"
