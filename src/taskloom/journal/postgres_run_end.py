"""How the distributed queue ends runs: finished, stopped (deadlines) or cancelled.

Each is a few statements inside the caller's transaction -- the run row, its
unfinished tasks, the ``run_finished`` event and the notifications that wake
waiting clients and make workers drop what they run of it -- so a run ends
exactly once, whoever ends it. Split from
:mod:`taskloom.journal.postgres_queue`, whose ``TaskQueue`` inherits it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskloom.journal.queue_records import FinishedCount
from taskloom.journal.records import EventRecord

if TYPE_CHECKING:
    import psycopg

    from taskloom.journal.postgres import PostgresJournal

#: Payload prefix on the ready channel: ``"stop <run_id>"``, the run was stopped.
STOP_PREFIX = "stop "


class RunEndings:
    """The run-ending statements of a ``TaskQueue``."""

    journal: PostgresJournal
    _q: dict[str, str]
    ready_channel: str
    done_channel: str

    if TYPE_CHECKING:  # provided by TaskQueue

        def notify(
            self, conn: psycopg.Connection[Any], channel: str, payload: str = ""
        ) -> None: ...

        def insert_events(
            self, conn: psycopg.Connection[Any], events: Sequence[EventRecord]
        ) -> None: ...

    def finish_run_notify(
        self,
        conn: psycopg.Connection[Any],
        run_id: str,
        status: str,
        final_json: str,
        error: str | None,
    ) -> None:
        """Mark the run ended, log ``run_finished`` and notify its waiters (nothing to read).

        The notification's payload is ``"<run_id> <status>"``.
        """
        conn.execute(
            self._q["finish_run_notify"],
            {
                "run_id": run_id,
                "status": status,
                "final": final_json,
                "error": error,
                "event": json.dumps({"status": status}),
                "channel": self.done_channel,
            },
        )

    def outcome_rows(
        self, conn: psycopg.Connection[Any], run_id: str, sinks: Sequence[str]
    ) -> list[tuple[str, str, str | None, str | None]]:
        """``(key, status, output_json, error)`` of a run's failed tasks and sinks."""
        rows: list[tuple[str, str, str | None, str | None]] = conn.execute(
            self._q["outcome_rows"], (run_id, list(sinks))
        ).fetchall()
        return rows

    def finish_run(
        self,
        conn: psycopg.Connection[Any],
        run_id: str,
        status: str,
        final_json: str,
        error: str | None,
    ) -> float | None:
        """Mark the run ended; returns its end time (None if it had already ended)."""
        row = conn.execute(self._q["finish_run"], (status, final_json, error, run_id)).fetchone()
        return float(row[0]) if row else None

    def stop_run(self, conn: psycopg.Connection[Any], run_id: str) -> FinishedCount | None:
        """Cancel every task of a run not yet ended; the run, if it was still running.

        The caller finishes the run (its status and result) in the same
        transaction; None if it had already ended.
        """
        conn.execute(self._q["lock_runs"], ([run_id],))
        conn.execute(self._q["stop_run"], {"run_id": run_id})
        row = conn.execute(self._q["zero_open_tasks"], (run_id,)).fetchone()
        if row is None:
            return None
        # Workers running tasks of it drop them (an async body is cancelled) on commit.
        self.notify(conn, self.ready_channel, STOP_PREFIX + run_id)
        return FinishedCount(run_id, row[1], row[2], row[3], row[0])

    def cancel_locked(self, conn: psycopg.Connection[Any], run_id: str, reason: str) -> bool:
        """Stop one run as Cancelled inside ``conn``'s transaction; False if it had ended."""
        if self.stop_run(conn, run_id) is None:
            return False
        row = conn.execute(self._q["finish_cancelled"], (reason, run_id)).fetchone()
        if row is None:
            return False
        data = json.dumps({"status": "Cancelled", "reason": reason})
        self.insert_events(conn, [EventRecord(run_id, "run_finished", float(row[0]), None, data)])
        self.notify(conn, self.done_channel, run_id)
        return True
