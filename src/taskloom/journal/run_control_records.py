"""The SQL journals' records of retries, cancels and deploys.

Kept apart from :mod:`taskloom.journal.sql_journal` because they are not
on any hot path: a workflow graph is recorded once per version (or per
distinct flow graph), a run is reopened by an explicit retry or adoption,
and cancel requests are read once per maintenance tick of an engine that
has runs. The queries live in ``sql/<backend>_deploys.sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from taskloom.journal.records import Reopening


class RunControlRecords:
    """Mixed into :class:`~taskloom.journal.sql_journal.SqlJournal`."""

    _q: dict[str, str]

    if TYPE_CHECKING:  # provided by SqlJournal

        def _transaction(self) -> AbstractContextManager[Any]: ...
        def _read(self, query: str, params: Sequence[Any]) -> list[Any]: ...
        def _executemany(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None: ...
        def _insert_events(self, conn: Any, rows: list[tuple[Any, ...]]) -> None: ...

    def record_shape(self, kind: str, name: str, version: str, digest: str, shape: str) -> None:
        import time

        with self._transaction() as conn:
            conn.execute(self._q["record_shape"], (kind, name, version, digest, shape, time.time()))

    def get_shapes(self, kind: str, name: str, version: str) -> list[str]:
        return [str(row[0]) for row in self._read("get_shapes", (kind, name, version))]

    def reopen_run(self, reopening: Reopening) -> bool:
        from taskloom.journal.sql_journal import task_row

        r = reopening
        with self._transaction() as conn:
            cursor = conn.execute(
                self._q["reopen_run"],
                (
                    r.new_owner,
                    r.version,
                    r.run_id,
                    r.from_status,
                    not r.check_owner,
                    r.from_owner,
                ),
            )
            if cursor.rowcount != 1:
                return False
            conn.execute(self._q["delete_run_tasks"], (r.run_id,))
            if r.tasks:
                self._executemany(conn, self._q["upsert_task"], [task_row(t) for t in r.tasks])
            if r.events:
                self._insert_events(
                    conn, [(e.run_id, e.task_key, e.kind, e.at, e.data_json) for e in r.events]
                )
            conn.execute(self._q["clear_cancel_request"], (r.run_id,))
            return True

    def request_cancel(self, run_id: str, reason: str, at: float) -> None:
        with self._transaction() as conn:
            conn.execute(self._q["request_cancel"], (run_id, reason, at))

    def cancel_requests(self, owner_id: str) -> list[tuple[str, str]]:
        return [(str(a), str(b)) for a, b in self._read("cancel_requests", (owner_id,))]

    def clear_cancel_request(self, run_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(self._q["clear_cancel_request"], (run_id,))
