"""The distributed task queue: SQL primitives on the PostgreSQL journal's tables.

A run created here is *distributed*: no process owns it; each of its task
rows is claimed by whichever worker gets to it first. This module knows the
tables and nothing of plans -- the worker (:mod:`taskloom.distributed.worker`)
composes these primitives into claims and group-committed completions.

Two notification channels per schema carry the wake-ups:
``taskloom_ready_<schema>`` (a task became claimable) and
``taskloom_run_done_<schema>`` (payload: the run id).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from taskloom.errors import JournalError
from taskloom.journal.pgconnect import READY, RUN_DONE, connect, quote_ident
from taskloom.journal.postgres_run_end import RunEndings
from taskloom.journal.queue_records import (
    ClaimedTask,
    Completion,
    FinishedCount,
    Growth,
    QueuedTask,
    Speculation,
    workflow_key,
)
from taskloom.journal.records import EventRecord, RunRecord
from taskloom.journal.sqlfiles import load_queries

if TYPE_CHECKING:
    import psycopg

    from taskloom.journal.postgres import PostgresJournal


class TaskQueue(RunEndings):
    """Queue operations over a :class:`PostgresJournal`'s pool and schema."""

    def __init__(self, journal: PostgresJournal) -> None:
        self.journal = journal
        self._q = load_queries("postgres_queue.sql")
        self.ready_channel = journal.channel(READY)
        self.done_channel = journal.channel(RUN_DONE)
        self._claim_conn: psycopg.Connection[Any] | None = None

    # -- submitting ---------------------------------------------------------

    def enqueue_run(
        self,
        run: RunRecord,
        tasks: Sequence[QueuedTask],
        run_limit: int | None = None,
        *,
        workflow_timeout: float | None = None,
        task_timeout: float | None = None,
        trace_context: str | None = None,
    ) -> None:
        """Insert a distributed run and all its task rows in one transaction, then wake workers.

        ``run_limit``: at most this many of the run's tasks run at once (``max_concurrency``).
        ``workflow_timeout``: the run fails this many seconds after it is inserted (its
        deadline, on the database clock). ``task_timeout``: the run's default per-attempt
        timeout of tasks that set none. ``trace_context``: the submitter's ``traceparent``,
        recorded on the run's ``run_started`` event for the workers' spans.
        """
        with self.journal.transaction(pipeline=True) as conn:
            self.enqueue_run_in(
                conn, run, tasks, run_limit, workflow_timeout, task_timeout, trace_context
            )

    def enqueue_run_in(
        self,
        conn: psycopg.Connection[Any],
        run: RunRecord,
        tasks: Sequence[QueuedTask],
        run_limit: int | None = None,
        workflow_timeout: float | None = None,
        task_timeout: float | None = None,
        trace_context: str | None = None,
    ) -> None:
        """:meth:`enqueue_run` inside a transaction the caller holds (a schedule's fire)."""
        conn.execute(
            self._q["insert_queued_run"],
            {
                "run_id": run.run_id,
                "name": run.workflow_name,
                "version": run.workflow_version,
                "kind": run.kind,
                "input_json": run.input_json,
                "created_at": run.created_at,
                "open_tasks": len(tasks),
                "workflow_timeout": workflow_timeout,
                "task_timeout": task_timeout,
            },
        )
        conn.execute(
            self._q["insert_queued_tasks"],
            {
                "run_id": run.run_id,
                "keys": [t.key for t in tasks],
                "deps": [t.deps for t in tasks],
                "priorities": [t.priority for t in tasks],
                "groups": [t.group for t in tasks],
                "group_limits": [t.group_limit for t in tasks],
                "run_limit": run_limit,
                "workflow": workflow_key(run.workflow_name, run.workflow_version, run.kind),
            },
        )
        data = None if trace_context is None else json.dumps({"traceparent": trace_context})
        started = EventRecord(run.run_id, "run_started", run.created_at, None, data)
        self.insert_events(conn, [started])
        self.notify(conn, self.ready_channel)

    # -- recording ----------------------------------------------------------

    @contextlib.contextmanager
    def recording(self) -> Iterator[psycopg.Connection[Any]]:
        """A pipelined transaction for recording completions, with plans made once.

        The completion statements are looked up by primary key, so they run
        on generic plans that never scan a whole table (see ``keyed_plans``).
        """
        with self.journal.transaction(pipeline=True) as conn:
            conn.execute(self._q["keyed_plans"])
            yield conn

    # -- claiming -----------------------------------------------------------

    def claim(
        self,
        me: str,
        limit: int,
        lease: float,
        workflows: Sequence[str],
        *,
        expired: bool = False,
        limited: bool = False,
    ) -> list[ClaimedTask]:
        """Claim up to ``limit`` ready tasks (or, with ``expired``, tasks whose lease ran out;
        with ``limited``, ready tasks under a concurrency limit) of the given workflows
        (:func:`workflow_key` strings)."""
        if limit <= 0 or not workflows:
            return []
        # One statement is its own transaction: no BEGIN/COMMIT round trips.
        params = {"me": me, "limit": limit, "lease": lease, "workflows": list(workflows)}
        if limited:
            rows = self._claim_rows(self._q["claim_limited"], params, self._q["limits_lock"])
        else:
            rows = self._claim_rows(self._q["claim_expired" if expired else "claim_ready"], params)
        return [
            ClaimedTask(
                run_id=r[0],
                task_key=r[1],
                attempt=r[2],
                fence=r[3],
                reclaimed=r[4] == "Running",
                workflow_name=r[5],
                workflow_version=r[6],
                input_json=r[7],
                kind=r[8],
                time_left=r[9],
                task_timeout=r[10],
                deaths=r[11],
            )
            for r in rows
        ]

    def _claim_rows(self, query: str, params: dict[str, Any], lock: str | None = None) -> list[Any]:
        """Run a claim on the queue's own connection, whose commits are asynchronous.

        ``synchronous_commit=off`` on this connection only: a claim's commit
        does not wait for its WAL flush (one fsync less per claim). Losing a
        claim to a server crash is harmless -- the row is Ready again, or its
        lease expires, and the fence keeps a stale completion out -- and the
        completion's durable commit flushes the claim's WAL before it anyway.
        Only one thread claims (the worker's loop), so one connection suffices.
        """
        conn = self._claim_conn
        if conn is None or conn.closed:
            conn = self._claim_conn = self._open_claim_connection()
        try:
            if lock is None:
                rows: list[Any] = conn.execute(query, params).fetchall()
            else:
                # The lock in its own statement: the claim's snapshot comes after it.
                with conn.pipeline(), conn.transaction():
                    conn.execute(lock)
                    cursor = conn.execute(query, params)
                rows = cursor.fetchall()
        except self.journal.errors as exc:
            with contextlib.suppress(Exception):
                conn.close()
            self._claim_conn = None
            raise JournalError(f"cannot claim tasks at {self.journal.where}: {exc}") from exc
        return rows

    def _open_claim_connection(self) -> psycopg.Connection[Any]:
        try:
            conn = connect(self.journal.conninfo)
            conn.execute(f"SET search_path TO {quote_ident(self.journal.schema)}")
            conn.execute("SET synchronous_commit TO off")
        except self.journal.errors as exc:
            raise JournalError(f"cannot claim tasks at {self.journal.where}: {exc}") from exc
        return conn

    def close(self) -> None:
        """Close the claim connection, if one was opened."""
        conn, self._claim_conn = self._claim_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def task_states(
        self, pairs: Sequence[tuple[str, str]], runs: Sequence[str] = ()
    ) -> tuple[dict[tuple[str, str], tuple[str, str | None]], dict[str, str]]:
        """``(run_id, key) -> (status, output_json)`` for the given tasks, and
        ``run_id -> status`` for the given runs, in one round trip."""
        if not pairs and not runs:
            return {}, {}
        with self.journal.connection() as conn:
            rows = conn.execute(
                self._q["task_states"],
                {
                    "run_ids": [p[0] for p in pairs],
                    "keys": [p[1] for p in pairs],
                    "runs": sorted(set(runs)),
                },
            ).fetchall()
        tasks = {(r[0], r[1]): (r[2], r[3]) for r in rows if r[1] is not None}
        return tasks, {r[0]: r[2] for r in rows if r[1] is None}

    def trace_contexts(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The ``traceparent`` each of these runs was submitted with (when tracing is on)."""
        with self.journal.connection() as conn:
            rows = conn.execute(self._q["trace_contexts"], (list(run_ids),)).fetchall()
        found: dict[str, str] = {}
        for run_id, data in rows:
            traceparent = json.loads(data).get("traceparent") if data else None
            if traceparent:
                found[str(run_id)] = str(traceparent)
        return found

    def ready_count(self, workflows: Sequence[str]) -> int:
        """How many tasks of these workflow keys are claimable now (the queue depth)."""
        with self.journal.connection() as conn:
            row = conn.execute(self._q["ready_count"], (list(workflows),)).fetchone()
        return int(row[0]) if row else 0

    def renew_leases(self, me: str, lease: float) -> int:
        """Extend the lease of every task ``me`` still owns; returns how many."""
        with self.journal.connection() as conn:
            return conn.execute(self._q["renew_leases"], (lease, me)).rowcount

    # -- completing (inside the caller's transaction) -----------------------

    def complete(
        self, conn: psycopg.Connection[Any], me: str, completions: Sequence[Completion]
    ) -> tuple[set[tuple[str, str]], float]:
        """Record outcomes under their fences; returns the accepted keys and the db time."""
        return self.accepted(self.send_complete(conn, me, completions))

    @staticmethod
    def accepted(cursor: psycopg.Cursor[Any]) -> tuple[set[tuple[str, str]], float]:
        """What :meth:`send_complete` recorded: the accepted keys and the db time."""
        rows = cursor.fetchall()
        now = float(rows[0][2]) if rows else 0.0
        return {(r[0], r[1]) for r in rows}, now

    def send_complete(
        self, conn: psycopg.Connection[Any], me: str, completions: Sequence[Completion]
    ) -> psycopg.Cursor[Any]:
        """Send the fenced outcomes without waiting (pipeline); read them with :meth:`accepted`.

        Statements sent after it in the same transaction see its effects, so
        :meth:`release_accepted` and :meth:`close_and_collect` can ride in the
        same round trip.
        """
        return conn.execute(
            self._q["complete_tasks"],
            {
                "me": me,
                "run_ids": [c.run_id for c in completions],
                "keys": [c.task_key for c in completions],
                "fences": [c.fence for c in completions],
                "statuses": [c.status for c in completions],
                "outputs": [c.output_json for c in completions],
                "errors": [c.error for c in completions],
                "tracebacks": [c.traceback for c in completions],
                "delays": [c.delay for c in completions],
                "attempted": [c.attempted for c in completions],
                "wake_in": [c.wake_in for c in completions],
            },
        )

    def release_dependents(
        self, conn: psycopg.Connection[Any], pairs: Sequence[tuple[str, str]]
    ) -> int:
        """Count a finished dependency off each ``(run_id, key)``; returns how many became ready."""
        if not pairs:
            return 0
        run_ids, keys = [p[0] for p in pairs], [p[1] for p in pairs]
        conn.execute(self._q["lock_dependents"], (run_ids, keys))
        rows = conn.execute(
            self._q["release_dependents"], ([p[0] for p in pairs], [p[1] for p in pairs])
        ).fetchall()
        return sum(1 for r in rows if r[0] == "Ready")

    def release_accepted(
        self, conn: psycopg.Connection[Any], edges: Sequence[tuple[str, str, str, int]]
    ) -> psycopg.Cursor[Any] | None:
        """Count finished parents off their dependents, for ``(run_id, child, parent, fence)``
        whose parent completion was accepted; read the cursor for the new statuses."""
        if not edges:
            return None
        conn.execute(self._q["lock_dependents"], ([e[0] for e in edges], [e[1] for e in edges]))
        return conn.execute(
            self._q["release_accepted"],
            (
                [e[0] for e in edges],
                [e[1] for e in edges],
                [e[2] for e in edges],
                [e[3] for e in edges],
            ),
        )

    def close_tasks(
        self, conn: psycopg.Connection[Any], run_ids: Sequence[str]
    ) -> list[FinishedCount]:
        """Count finished tasks off their runs; returns the runs with none left open."""
        if not run_ids:
            return []
        conn.execute(self._q["lock_runs"], (list(run_ids),))
        rows = conn.execute(self._q["close_tasks"], (list(run_ids),)).fetchall()
        return [FinishedCount(r[0], r[2], r[3], r[4], r[5]) for r in rows if r[1] <= 0]

    def send_close(
        self,
        conn: psycopg.Connection[Any],
        ended: Sequence[tuple[str, str, int]],
        result_keys: Sequence[tuple[str, str]],
    ) -> psycopg.Cursor[Any] | None:
        """:meth:`close_tasks` plus each finished run's :meth:`outcome_rows`, in one statement,
        for the ``(run_id, key, fence)`` completions that were accepted; read it with
        :meth:`closed`. ``result_keys``: ``(run_id, key)`` of the rows each result is made of.
        """
        if not ended:
            return None
        conn.execute(self._q["lock_runs"], (sorted({e[0] for e in ended}),))
        return conn.execute(
            self._q["close_tasks_outcome"],
            {
                "run_ids": [e[0] for e in ended],
                "keys": [e[1] for e in ended],
                "fences": [e[2] for e in ended],
                "result_runs": [p[0] for p in result_keys],
                "result_keys": [p[1] for p in result_keys],
            },
        )

    def recorded(self, completions: Sequence[Completion]) -> set[tuple[str, str]]:
        """Those of ``completions`` whose rows already hold them: their fence, their
        outcome, no owner -- an earlier commit of ours recorded them (see ``recorded``)."""
        with self.journal.connection() as conn:
            rows = conn.execute(
                self._q["recorded"],
                {
                    "run_ids": [c.run_id for c in completions],
                    "keys": [c.task_key for c in completions],
                    "fences": [c.fence for c in completions],
                    "statuses": [c.status for c in completions],
                },
            ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def send_sweep_ended(self, conn: psycopg.Connection[Any], run_ids: Sequence[str]) -> None:
        """Cancel the open rows a stop skipped in those of ``run_ids`` that have ended
        (see ``sweep_ended``); send after the runs are locked, nothing to read."""
        if run_ids:
            conn.execute(self._q["sweep_ended"], {"run_ids": sorted(set(run_ids))})

    def send_events_accepted(
        self, conn: psycopg.Connection[Any], completions: Sequence[Completion]
    ) -> None:
        """Log the events of the completions :meth:`send_complete` accepts (same pipeline)."""
        if completions:
            conn.execute(
                self._q["insert_events_accepted"],
                {
                    "run_ids": [c.run_id for c in completions],
                    "keys": [c.task_key for c in completions],
                    "fences": [c.fence for c in completions],
                    "statuses": [c.status for c in completions],
                    "kinds": [c.event_kind for c in completions],
                    "datas": [c.event_data for c in completions],
                },
            )

    def send_release_notify(
        self, conn: psycopg.Connection[Any], edges: Sequence[tuple[str, str, str, int]]
    ) -> psycopg.Cursor[Any] | None:
        """:meth:`release_accepted` that also notifies the workers when a task became ready;
        its cursor's first column counts them."""
        if not edges:
            return None
        conn.execute(self._q["lock_dependents"], ([e[0] for e in edges], [e[1] for e in edges]))
        return conn.execute(
            self._q["release_accepted_notify"],
            {
                "run_ids": [e[0] for e in edges],
                "keys": [e[1] for e in edges],
                "parents": [e[2] for e in edges],
                "fences": [e[3] for e in edges],
                "channel": self.ready_channel,
            },
        )

    def send_close_finish(
        self,
        conn: psycopg.Connection[Any],
        ended: Sequence[tuple[str, str, int]],
        speculated: Sequence[Speculation],
    ) -> psycopg.Cursor[Any] | None:
        """Count accepted completions off their runs and finish those that end, with their
        speculated outcome, all before the commit; a run that ends without a speculation
        that holds makes the commit fail with :data:`UNSETTLED` (see close_finish). Its cursor
        gives ``(run_id, finished)`` per run counted."""
        if not ended:
            return None
        conn.execute(self._q["lock_runs"], (sorted({e[0] for e in ended}),))
        return conn.execute(
            self._q["close_finish"],
            {
                "run_ids": [e[0] for e in ended],
                "keys": [e[1] for e in ended],
                "fences": [e[2] for e in ended],
                "spec_runs": [s.run_id for s in speculated],
                "spec_statuses": [s.status for s in speculated],
                "spec_finals": [s.final_json for s in speculated],
                "spec_errors": [s.error for s in speculated],
                "spec_events": [json.dumps({"status": s.status}) for s in speculated],
                "spec_failed": [s.failed for s in speculated],
                "channel": self.done_channel,
            },
        )

    def send_grow(
        self, conn: psycopg.Connection[Any], growths: Sequence[Growth]
    ) -> psycopg.Cursor[Any] | None:
        """Insert the tasks of each growth whose completion was accepted, and make its
        collector wait for them; send after the runs are locked (:meth:`send_close_finish`
        or :meth:`send_close`), before the commit. The cursor's first column counts the
        tasks that became ready (the workers are notified then)."""
        if not growths:
            return None
        tasks = [(g, t) for g in growths for t in g.tasks]
        # Row numbers continue after the run's last row; two growths of one run
        # in this batch number their rows one after the other.
        offsets: dict[str, int] = {}
        numbers: list[int] = []
        for g, _ in tasks:
            offsets[g.run_id] = offsets.get(g.run_id, 0) + 1
            numbers.append(offsets[g.run_id])
        return conn.execute(
            self._q["grow_accepted"],
            {
                "run_ids": [g.run_id for g in growths],
                "afters": [g.after for g in growths],
                "fences": [g.fence for g in growths],
                "collectors": [g.collector for g in growths],
                "sizes": [len(g.tasks) for g in growths],
                "task_runs": [g.run_id for g, _ in tasks],
                "task_collectors": [g.collector for g, _ in tasks],
                "keys": [t.key for _, t in tasks],
                "numbers": numbers,
                "priorities": [t.priority for _, t in tasks],
                "workflows": [g.workflow for g, _ in tasks],
                "run_limits": [g.run_limit for g, _ in tasks],
                "groups": [t.group for _, t in tasks],
                "group_limits": [t.group_limit for _, t in tasks],
                "channel": self.ready_channel,
            },
        )

    @staticmethod
    def closed(
        cursor: psycopg.Cursor[Any] | None,
    ) -> list[tuple[FinishedCount, list[tuple[str, str, str | None, str | None]]]]:
        """The runs :meth:`send_close` finished, with their outcome rows."""
        if cursor is None:
            return []
        rows = cursor.fetchall()
        return [
            (
                FinishedCount(r[0], r[2], r[3], r[4], r[5]),
                [(k, st, out, err) for k, st, out, err in (r[6] or [])],
            )
            for r in rows
            if r[1] <= 0
        ]

    def cancel_run(self, run_id: str, reason: str) -> bool:
        """Stop a distributed run as Cancelled, with its unfinished child step runs (and
        theirs), in one transaction; False if it had already ended."""
        from taskloom.journal.postgres_children import cancel_tree

        with self.journal.transaction() as conn:
            return bool(cancel_tree(self, conn, run_id, reason))

    def insert_events(self, conn: psycopg.Connection[Any], events: Sequence[EventRecord]) -> None:
        if events:
            conn.execute(
                self._q["insert_events"],
                (
                    [e.run_id for e in events],
                    [e.task_key for e in events],
                    [e.kind for e in events],
                    [e.at for e in events],
                    [e.data_json for e in events],
                ),
            )

    def notify(self, conn: psycopg.Connection[Any], channel: str, payload: str = "") -> None:
        """NOTIFY on commit (PostgreSQL folds identical notifications of one transaction)."""
        conn.execute(self._q["notify"], (channel, payload))
