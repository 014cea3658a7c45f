"""The browsing reads (:mod:`taskloom.journal.browse`) over the SQL journals.

A runs page combines any of seven filters, so its statement is composed
here from fixed fragments (the values are always bound parameters, never
text). Fragments are written with ``?`` placeholders; PostgreSQL's are
``%s``, which :meth:`SqlBrowse._sql` substitutes. The indexes behind them
are in ``sql/sqlite_009_browse.sql`` and ``sql/postgres_014_browse.sql``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from taskloom.journal.browse import Cursor, RunFilter, WorkflowStats
from taskloom.journal.records import RunRecord

_RUN_COLUMNS = (
    "run_id, workflow_name, workflow_version, kind, status, input_json, created_at, "
    "final_json, error, owner_id, ended_at"
)


class SqlBrowse:
    """Mixin of :class:`~taskloom.journal.sql_journal.SqlJournal` for the browsing reads."""

    #: The backend's parameter placeholder.
    _placeholder = "?"

    @abstractmethod
    def _read_sql(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Rows of a composed statement (not a named query)."""

    def _prefix_condition(self, prefix: str) -> tuple[str, list[Any]]:
        """``run_id`` starts with ``prefix``: a range of the primary key (byte order)."""
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return "run_id >= ? AND run_id < ?", [prefix, upper]

    def _sql(self, text: str) -> str:
        return text if self._placeholder == "?" else text.replace("?", self._placeholder)

    def _run_conditions(self, f: RunFilter) -> tuple[list[str], list[Any]]:
        conds: list[str] = []
        params: list[Any] = []
        if f.workflow is not None:
            conds.append("workflow_name = ?")
            params.append(f.workflow)
        if f.version is not None:
            conds.append("workflow_version = ?")
            params.append(f.version)
        if f.status is not None:
            conds.append("status = ?")
            params.append(f.status)
        if f.kind is not None:
            conds.append("kind = ?")
            params.append(f.kind)
        if f.run_id_prefix:
            cond, values = self._prefix_condition(f.run_id_prefix)
            conds.append(cond)
            params.extend(values)
        if f.created_from is not None:
            conds.append("created_at >= ?")
            params.append(f.created_from)
        if f.created_to is not None:
            conds.append("created_at < ?")
            params.append(f.created_to)
        return conds, params

    def search_runs(
        self, filter: RunFilter, limit: int = 50, after: Cursor | None = None
    ) -> list[RunRecord]:
        conds, params = self._run_conditions(filter)
        if after is not None:
            conds.append("(created_at < ? OR (created_at = ? AND run_id < ?))")
            params.extend([after[0], after[0], after[1]])
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        sql = (
            f"SELECT {_RUN_COLUMNS} FROM runs{where} ORDER BY created_at DESC, run_id DESC LIMIT ?"
        )
        rows = self._read_sql(self._sql(sql), [*params, int(limit)])
        return [RunRecord(*row) for row in rows]

    def count_runs(self, filter: RunFilter) -> dict[str, int]:
        conds, params = self._run_conditions(filter.without_status())
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        sql = f"SELECT status, COUNT(*) FROM runs{where} GROUP BY status"
        return {str(s): int(n) for s, n in self._read_sql(self._sql(sql), params)}

    def latest_event_id(self, run_id: str | None = None) -> int:
        if run_id is None:
            rows = self._read_sql("SELECT MAX(event_id) FROM events", [])
        else:
            sql = self._sql("SELECT MAX(event_id) FROM events WHERE run_id = ?")
            rows = self._read_sql(sql, [run_id])
        return int(rows[0][0] or 0) if rows else 0

    def workflow_names(self) -> list[str]:
        # A loose index scan of runs_by_workflow: one probe per distinct name,
        # not a scan of every run.
        sql = (
            "WITH RECURSIVE names(name) AS ("
            " SELECT MIN(workflow_name) FROM runs"
            " UNION ALL"
            " SELECT (SELECT MIN(workflow_name) FROM runs WHERE workflow_name > names.name)"
            " FROM names WHERE names.name IS NOT NULL"
            ") SELECT name FROM names WHERE name IS NOT NULL"
        )
        return [str(row[0]) for row in self._read_sql(sql, [])]

    def workflow_stats(self) -> list[WorkflowStats]:
        sql = (
            "SELECT workflow_name, workflow_version, kind, COUNT(*), "
            "SUM(CASE WHEN status = 'Completed' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'Failed' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'Running' THEN 1 ELSE 0 END), MAX(created_at) "
            "FROM runs GROUP BY workflow_name, workflow_version, kind "
            "ORDER BY MAX(created_at) DESC"
        )
        return [
            WorkflowStats(str(n), str(v), str(k), int(c), int(ok), int(bad), int(run), float(at))
            for n, v, k, c, ok, bad, run, at in self._read_sql(sql, [])
        ]
