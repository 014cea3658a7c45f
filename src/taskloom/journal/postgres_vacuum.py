"""Workers vacuum the queue's tables when their dead rows pile up.

Every claim and completion updates task rows, and every update of a row
that is in the ready index (``task_runs_ready``) leaves a dead entry there.
A claim scans that index from its oldest entries, so until VACUUM removes
the dead ones each claim walks past all of them: after a burst of 30,000
tasks an empty claim read ~440 index pages (~1.8 ms) instead of a handful.
PostgreSQL's autovacuum cleans up eventually, but it looks at a table at
most once a ``autovacuum_naptime`` (a minute by default), waits for 20 % of
the table to be dead, and may be switched off altogether (it is on some
development servers) -- then the queue slows down for ever.

So each worker runs a :class:`QueueVacuum` thread: every few seconds it
reads the dead-row estimate of ``task_runs`` and ``runs`` from
``pg_stat_user_tables`` and, when it has grown by :data:`DEAD_ROWS_MIN`
plus :data:`DEAD_FRACTION` of the live rows since what its last VACUUM left
(rows an old transaction still sees cannot be removed, and are not vacuumed
for again and again), runs ``VACUUM (SKIP_LOCKED)`` on that table. A
session advisory lock per schema keeps a fleet of workers from vacuuming
the same table at once; ``SKIP_LOCKED`` steps aside when
autovacuum is already at it. Plain VACUUM takes no lock that blocks reads or
writes, and it also refreshes the table's size in ``pg_class``, which makes
PostgreSQL re-plan the cached plans of the completion statements (see
``keyed_plans`` in ``postgres_queue.sql``) for the table's new size.

A role that does not own the tables cannot vacuum them (PostgreSQL only
warns); the thread then logs that once and stops.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from taskloom.journal.pgconnect import connect, quote_ident
from taskloom.journal.sqlfiles import load_queries

if TYPE_CHECKING:
    import psycopg

    from taskloom.journal.postgres import PostgresJournal

logger = logging.getLogger("taskloom")

#: The tables the workers churn; the others only grow (events, signals).
TABLES = ("task_runs", "runs")

#: A table is vacuumed once it has at least this many dead rows ...
DEAD_ROWS_MIN = 2000
#: ... plus this fraction of its live rows (autovacuum's default is 0.2).
DEAD_FRACTION = 0.05

#: Seconds between two looks at the dead-row estimates.
CHECK_INTERVAL = 2.0


class QueueVacuum:
    """A background thread that vacuums a schema's queue tables when they need it."""

    def __init__(self, journal: PostgresJournal, interval: float = CHECK_INTERVAL) -> None:
        self._journal = journal
        self._q = load_queries("postgres_queue.sql")
        self.interval = interval
        #: How many VACUUMs this thread has run (for tests and the worker's log).
        self.vacuums = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._refused = False
        self._vacuuming = False
        #: Dead rows each table had right after our last VACUUM of it (what it could not remove).
        self._left: dict[str, int] = {}
        #: Tables whose dead rows an old transaction holds (logged once).
        self._held: set[str] = set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="taskloom-vacuum", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop now: a VACUUM in progress is cancelled (safely: what it freed stays freed),
        so a draining worker never waits for one on a large table."""
        self._stop.set()
        conn = self._conn
        if self._vacuuming and conn is not None:
            with contextlib.suppress(Exception):
                conn.cancel()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        if thread is None or not thread.is_alive():
            self._close()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval) and not self._refused:
                try:
                    self.check()
                except Exception as exc:  # the database may be restarting: try again later
                    if not self._stop.is_set():
                        logger.warning("taskloom: could not vacuum the queue tables: %s", exc)
                    self._close()
        finally:
            self._close()

    def check(self) -> list[str]:
        """Vacuum the tables that need it now; the names of those vacuumed."""
        conn = self._connection()
        done: list[str] = []
        for table in self._due(conn):
            if self._stop.is_set() or self._refused:
                break
            row = conn.execute(self._q["vacuum_lock"], (table,)).fetchone()
            if not (row and row[0]):
                continue  # another worker is vacuuming it
            self._vacuuming = True
            try:
                if self._stop.is_set():  # stop() came between the checks: do not start
                    return done
                conn.execute(f"VACUUM (SKIP_LOCKED) {quote_ident(table)}")
            except Exception:
                if self._stop.is_set():  # cancelled by stop(): the session lock ends with it
                    return done
                raise
            finally:
                self._vacuuming = False
                if not self._stop.is_set():
                    conn.execute(self._q["vacuum_unlock"], (table,))
            if not self._refused:
                self.vacuums += 1
                done.append(table)
                self._note_left(conn, table)
                logger.debug("taskloom: vacuumed %s.%s", self._journal.schema, table)
        return done

    def _stats(self, conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
        rows = conn.execute(self._q["vacuum_stats"], (list(TABLES),)).fetchall()
        return {str(name): (int(dead), int(live)) for name, dead, live in rows}

    def _due(self, conn: psycopg.Connection[Any]) -> list[str]:
        """Tables whose dead rows grew past the threshold since the last VACUUM here.

        Counted from what that VACUUM left behind: rows an old transaction can
        still see (a long report, a session idle in transaction) cannot be
        removed, and PostgreSQL reports them as dead again at once; vacuuming
        again every few seconds would remove nothing and rescan the table.
        """
        due = []
        for table, (dead, live) in sorted(self._stats(conn).items(), key=lambda kv: -kv[1][0]):
            left = min(self._left.get(table, 0), dead)  # autovacuum may have done better
            self._left[table] = left
            if dead - left >= DEAD_ROWS_MIN + DEAD_FRACTION * live:
                due.append(table)
        return due

    def _note_left(self, conn: psycopg.Connection[Any], table: str) -> None:
        """Remember the dead rows the VACUUM could not remove; say once why they stay."""
        dead, live = self._stats(conn).get(table, (0, 0))
        self._left[table] = dead
        if dead >= DEAD_ROWS_MIN + DEAD_FRACTION * live and table not in self._held:
            self._held.add(table)
            logger.info(
                "taskloom: VACUUM of %s.%s left %d dead rows that an old transaction can still "
                "see (pg_stat_activity.backend_xmin names it); claims stay slower until it ends",
                self._journal.schema,
                table,
                dead,
            )
        elif dead < DEAD_ROWS_MIN:
            self._held.discard(table)

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed:
            conn = connect(self._journal.conninfo)  # autocommit: VACUUM needs it
            conn.execute(f"SET search_path TO {quote_ident(self._journal.schema)}")
            conn.add_notice_handler(self._notice)
            self._conn = conn
        return conn

    def _notice(self, diag: Any) -> None:
        """PostgreSQL only warns when the role may not vacuum a table: stop trying.

        (A table skipped because autovacuum holds its lock warns too, with
        SQLSTATE 55P03: that one is simply tried again later.)
        """
        if (
            diag.severity_nonlocalized == "WARNING"
            and diag.sqlstate != "55P03"
            and "skipping" in (diag.message_primary or "")
        ):
            if not self._refused:
                logger.info(
                    "taskloom: the queue tables of schema %r are not vacuumed by the workers "
                    "(%s); leave it to autovacuum or run the workers as the tables' owner",
                    self._journal.schema,
                    diag.message_primary,
                )
            self._refused = True

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
