"""Durable accumulators of reactors, in the SQLite or PostgreSQL journal.

A value pushed into an accumulator is recorded before ``push`` returns, so
a crash cannot lose it. When the values waiting for a reactor satisfy its
mode, one transaction consumes them, records the firing and creates the
runs that execute the reactor's graphs (unowned, so any runner of the
database adopts them as it adopts an orphaned run): a firing is recorded
exactly once, or not at all, and its runs exist exactly when it does.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from taskloom.errors import JournalError
from taskloom.journal.base import Journal
from taskloom.journal.records import RunRecord, TaskRecord
from taskloom.journal.sql_journal import SqlJournal, task_row
from taskloom.journal.sqlfiles import load_queries

#: Builds the runs of one firing: ``(fire_id, inputs_json) -> [(run, its task rows)]``.
RunFactory = Callable[[str, str], list[tuple[RunRecord, list[TaskRecord]]]]


@dataclass(frozen=True, slots=True)
class Fire:
    """One firing of a reactor: the accumulator values it consumed and the runs it made."""

    fire_id: str
    reactor: str
    inputs: dict[str, Any]
    run_ids: tuple[str, ...]
    fired_at: float


class ReactorStore:
    """Reactor accumulators over a SQL journal's connection and transactions."""

    def __init__(self, journal: Journal) -> None:
        backend = _backend(journal)
        if backend is None or not isinstance(journal, SqlJournal):
            raise JournalError(
                f"reactors keep their accumulators in a SQLite or PostgreSQL journal; the "
                f"journal at {journal.url!r} is neither (use a sqlite:// or postgresql:// URL)"
            )
        self.journal: SqlJournal = journal
        self._q = load_queries(f"{backend}_reactors.sql")

    def push(
        self,
        *,
        reactor: str,
        accumulator: str,
        value_json: str,
        accumulators: Sequence[str],
        mode: str,
        make_runs: RunFactory,
    ) -> Fire | None:
        """Record a pushed value; fire the reactor if its mode is now satisfied.

        ``when_any`` fires on every value, ``when_all`` once each accumulator
        has a value not yet consumed. A firing's inputs are the latest value
        of every accumulator (``None`` for one never pushed to).
        """
        now = time.time()
        with self.journal._transaction() as conn:
            conn.execute(self._q["lock"], (reactor,))
            conn.execute(self._q["insert_value"], (reactor, accumulator, value_json, now))
            pending = {
                str(row[0])
                for row in conn.execute(self._q["pending_accumulators"], (reactor,)).fetchall()
            }
            if mode != "when_any" and not set(accumulators) <= pending:
                return None
            inputs: dict[str, Any] = {}
            for name in accumulators:
                row = conn.execute(self._q["latest_value"], (reactor, name)).fetchone()
                inputs[name] = None if row is None else json.loads(row[0])
            fire_id = uuid.uuid4().hex
            inputs_json = json.dumps(inputs, separators=(",", ":"))
            conn.execute(self._q["consume"], (fire_id, reactor))
            conn.execute(self._q["prune"], (reactor,))
            runs = make_runs(fire_id, inputs_json)
            for run, tasks in runs:
                conn.execute(self.journal._q["insert_run"], _run_row(run))
                for task in tasks:
                    conn.execute(self.journal._q["upsert_task"], task_row(task))
            run_ids = tuple(run.run_id for run, _ in runs)
            conn.execute(
                self._q["insert_fire"],
                (fire_id, reactor, inputs_json, json.dumps(list(run_ids)), now),
            )
        return Fire(fire_id, reactor, inputs, run_ids, now)

    def fires(self, reactor: str) -> list[Fire]:
        """Every recorded firing of ``reactor``, oldest first."""
        return [
            Fire(str(f), str(r), json.loads(i), tuple(json.loads(ids)), float(at))
            for f, r, i, ids, at in self._rows("list_fires", (reactor,))
        ]

    def pending(self, reactor: str) -> dict[str, int]:
        """How many values wait in each accumulator of ``reactor`` (not yet consumed)."""
        return {str(a): int(n) for a, n in self._rows("pending_counts", (reactor,))}

    def _rows(self, name: str, params: Sequence[Any]) -> list[Any]:
        with self.journal._transaction() as conn:
            rows: list[Any] = conn.execute(self._q[name], params).fetchall()
            return rows


def _backend(journal: Journal) -> str | None:
    kind = type(journal).__name__
    if kind == "SQLiteJournal":
        return "sqlite"
    if kind == "PostgresJournal":
        return "postgres"
    return None


def _run_row(run: RunRecord) -> tuple[Any, ...]:
    return (
        run.run_id,
        run.workflow_name,
        run.workflow_version,
        run.kind,
        run.status,
        run.input_json,
        run.final_json,
        run.error,
        run.owner_id,
        run.created_at,
        run.ended_at,
    )
