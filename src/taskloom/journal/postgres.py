"""The shared journal: PostgreSQL, for many processes on many machines.

Same records and semantics as the SQLite journal (one transaction per
:meth:`write`, compare-and-set :meth:`claim_run`), so a ``DefaultRunner``
on a ``postgresql://`` URL behaves exactly as on SQLite. The distributed
task queue (:mod:`taskloom.journal.postgres_queue`) works on the same tables.

Why it is built this way:

* A ``psycopg_pool`` pool of autocommit connections: the engine's loop
  thread writes while callers read from theirs, and a read needs no
  ``BEGIN``/``COMMIT`` round trips; writes open an explicit transaction.
* Tables live in one schema, chosen with ``?schema=NAME`` (or the
  connection's ``search_path``, as in a tenant's connection string). The
  pool's ``configure`` callback sets ``search_path`` on every new connection,
  so the SQL files never name a schema.
* Migrations run under ``pg_advisory_xact_lock`` keyed on the schema, in one
  transaction with the version bump: many processes can open a fresh
  database at once and the schema is migrated exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from taskloom.errors import JournalError
from taskloom.journal.browse import ClaimRecord
from taskloom.journal.pgconnect import (
    READY,
    channel,
    check_pooled,
    connect,
    psycopg_module,
    quote_ident,
    split_url,
)
from taskloom.journal.records import (
    RunRecord,
    TaskRecord,
)
from taskloom.journal.redact import redact_url
from taskloom.journal.sql_journal import SqlJournal
from taskloom.journal.sqlfiles import load_queries, migrations, read_script

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

logger = logging.getLogger("taskloom")

#: Schema migrations ``(version, file)`` in order; the last version is the newest.
MIGRATIONS: tuple[tuple[int, str], ...] = migrations("postgres")
LATEST_VERSION = MIGRATIONS[-1][0]


class PostgresJournal(SqlJournal):
    """Journal stored in PostgreSQL tables of one schema."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = 4,
        connect_timeout: float = 30.0,
        read_only: bool = False,
    ) -> None:
        self.url = url
        conninfo, url_schema = split_url(url)
        self.conninfo = conninfo
        explicit = schema if schema is not None else url_schema
        self._q = load_queries("postgres_queries.sql") | load_queries("postgres_deploys.sql")
        self._errors: type[Exception] = psycopg_module().Error
        self.read_only = read_only
        try:
            self.schema = self._find_schema(explicit) if read_only else self._migrate(explicit)
        except self._errors as exc:
            raise JournalError(
                f"cannot open the PostgreSQL journal at {self._where}: {exc}"
            ) from exc
        self.pool = self._open_pool(pool_size, connect_timeout)
        self._closed = threading.Event()

    @property
    def errors(self) -> type[Exception]:
        """psycopg's base error class (what the journal turns into JournalError)."""
        return self._errors

    @property
    def where(self) -> str:
        """The URL without its password, for messages."""
        return self._where

    @property
    def _where(self) -> str:
        """The URL without its password, for messages."""
        return redact_url(self.url)

    # -- schema -----------------------------------------------------------

    def _migrate(self, explicit: str | None) -> str:
        """Create/upgrade the tables; returns the schema they live in."""
        with connect(self.conninfo) as conn:
            if explicit is not None:
                conn.execute(f"SET search_path TO {quote_ident(explicit)}")
            with conn.transaction():
                schema = explicit
                if schema is None:
                    row = conn.execute(self._q["current_schema"]).fetchone()
                    if row is None or row[0] is None:
                        raise JournalError(
                            f"the connection to {self._where} has no usable schema on its "
                            "search_path; add ?schema=NAME to the URL"
                        )
                    schema = str(row[0])
                conn.execute(self._q["migration_lock"], (schema,))
                exists = conn.execute(self._q["schema_exists"], (schema,)).fetchone()
                if not (exists and exists[0]):
                    conn.execute(f"CREATE SCHEMA {quote_ident(schema)}")
                conn.execute(self._q["schema_version_table"])
                # One row per applied migration: every one not recorded is applied, in
                # order (features built side by side add numbers that arrive out of order).
                applied = {int(r[0]) for r in conn.execute(self._q["applied_versions"])}
                version = max(applied, default=0)
                if version > LATEST_VERSION:
                    raise JournalError(
                        f"the journal in schema {schema!r} at {self._where} has schema version "
                        f"{version}, newer than this taskloom knows ({LATEST_VERSION}); "
                        "upgrade taskloom"
                    )
                for number, filename in MIGRATIONS:
                    if number in applied:
                        continue
                    conn.execute(read_script(filename))
                    conn.execute(self._q["record_schema_version"], (number,))
                    logger.info("taskloom: schema %r migrated to version %d", schema, number)
        return schema

    def _find_schema(self, explicit: str | None) -> str:
        """The schema of an existing journal, for a read-only user (no migration)."""
        with connect(self.conninfo) as conn:
            if explicit is not None:
                conn.execute(f"SET search_path TO {quote_ident(explicit)}")
            row = conn.execute(self._q["current_schema"]).fetchone()
            if row is None or row[0] is None:
                raise JournalError(
                    f"the connection to {self._where} has no usable schema on its "
                    "search_path; add ?schema=NAME to the URL"
                )
            conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
            return str(row[0])

    def _open_pool(self, size: int, timeout: float) -> ConnectionPool[Any]:
        from psycopg_pool import ConnectionPool

        search_path = f"SET search_path TO {quote_ident(self.schema)}"

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute(search_path)

        return ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=max(1, size),
            kwargs={"autocommit": True},
            configure=configure,
            check=check_pooled,
            timeout=timeout,
            open=True,
            name=f"taskloom-{self.schema}",
        )

    @property
    def schema_version(self) -> int:
        """The newest migration applied to this schema."""
        with self.pool.connection() as conn:
            return _scalar(conn.execute(self._q["schema_version"]).fetchone())

    def channel(self, base: str) -> str:
        """This schema's NOTIFY channel named ``base`` (see :func:`pgconnect.channel`)."""
        return channel(base, self.schema)

    # -- plumbing ---------------------------------------------------------

    @contextmanager
    def transaction(self, pipeline: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction; psycopg errors become JournalError.

        With ``pipeline`` the statements are sent without waiting for each
        other's results until one is fetched, which saves round trips on the
        hot paths (submitting a run, recording completions).
        """
        try:
            with self.pool.connection() as conn:
                if pipeline:
                    with conn.pipeline(), conn.transaction():
                        yield conn
                else:
                    with conn.transaction():
                        yield conn
        except self._errors as exc:
            raise JournalError(f"cannot write the journal at {self._where}: {exc}") from exc

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled autocommit connection (one statement = one transaction)."""
        try:
            with self.pool.connection() as conn:
                yield conn
        except self._errors as exc:
            raise JournalError(f"cannot use the journal at {self._where}: {exc}") from exc

    def _transaction(self) -> AbstractContextManager[Any]:
        return self.transaction()

    def _executemany(self, conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with conn.cursor() as cur:
            cur.executemany(sql, rows)

    def _read(self, query: str, params: Sequence[Any]) -> list[Any]:
        try:
            with self.pool.connection() as conn:
                rows: list[Any] = conn.execute(self._q[query], params).fetchall()
                return rows
        except self._errors as exc:
            raise JournalError(f"cannot read the journal at {self._where}: {exc}") from exc

    def _read_sql(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            with self.pool.connection() as conn:
                rows: list[Any] = conn.execute(sql, params).fetchall()
                return rows
        except self._errors as exc:
            raise JournalError(f"cannot read the journal at {self._where}: {exc}") from exc

    # -- browsing (the dashboard) ------------------------------------------

    _placeholder = "%s"

    def _prefix_condition(self, prefix: str) -> tuple[str, list[Any]]:
        # LIKE with the pattern operators' index; the prefix's own wildcards are escaped.
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "run_id LIKE ?", [escaped + "%"]

    def list_claims(self, limit: int = 1000) -> list[ClaimRecord]:
        return [ClaimRecord(*row) for row in self._read("list_claims", (limit,))]

    def parent_run(self, run_id: str) -> str | None:
        rows = self._read("parent_run", (run_id,))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- signal inbox (step workflows) -------------------------------------

    def send_signal(self, run_id: str, name: str, payload_json: str, at: float) -> int:
        with self.transaction() as conn:
            # Serialise inserts so ids grow in commit order: a run reading its
            # inbox "after id N" must never miss a signal committed late.
            conn.execute(self._q["signal_lock"])
            row = conn.execute(self._q["insert_signal"], (run_id, name, payload_json, at))
            signal_id = _scalar(row.fetchone())
            # A distributed run's suspended node is made claimable in the same
            # transaction, and the workers are told the moment it commits.
            woken = conn.execute(self._q["wake_signalled"], (run_id,)).fetchall()
            if any(status == "Ready" for (status,) in woken):
                conn.execute(self._q["notify"], (self.channel(READY), ""))
            return signal_id

    # -- reads ------------------------------------------------------------

    def get_run_and_tasks(self, run_id: str) -> tuple[RunRecord | None, list[TaskRecord]]:
        """:meth:`get_run` and :meth:`get_tasks` in one round trip (pipelined)."""
        try:
            with self.pool.connection() as conn, conn.pipeline():
                run_cur = conn.execute(self._q["get_run"], (run_id,))
                task_cur = conn.execute(self._q["get_tasks"], (run_id,))
                run_row = run_cur.fetchone()
                task_rows = task_cur.fetchall()
        except self._errors as exc:
            raise JournalError(f"cannot read the journal at {self._where}: {exc}") from exc
        run = RunRecord(*run_row) if run_row is not None else None
        return run, [TaskRecord(*row) for row in task_rows]

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self.pool.close()


def _scalar(row: Sequence[Any] | None) -> int:
    return int(row[0]) if row is not None and row[0] is not None else 0
