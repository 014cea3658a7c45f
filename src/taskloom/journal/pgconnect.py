"""PostgreSQL connection plumbing shared by the journal, the queue and tenancy.

psycopg is an optional dependency (``taskloom[postgres]``): it is imported
here, on first use of a ``postgresql://`` URL, so ``import taskloom`` never
pays for it and a SQLite user never needs it installed.

A taskloom URL is a libpq URL plus one option of ours, ``schema=NAME``,
which keeps the tables in that schema (stripped before libpq sees it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

#: Schema and role names we accept: they are spliced into DDL and into
#: ``search_path`` options, so only characters that need no quoting anywhere.
_NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")

POSTGRES_SCHEMES = ("postgresql", "postgres")


def validate_name(name: object, what: str = "schema") -> str:
    """Return ``name`` if it is a safe schema/role name, else raise ``ValueError``.

    Cloaca's rule (letters, digits and '_'), with its words first. The name
    is always quoted where it is used, so ``TenantA`` stays ``TenantA``
    (unquoted, PostgreSQL would fold it to ``tenanta``).
    """
    label = what[:1].upper() + what[1:]
    if name == "":
        raise ValueError(f"{label} name cannot be empty; give 1-40 ASCII letters, digits and '_'")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{label} name {name!r} is not valid: it must contain only alphanumeric characters "
            "and underscores (1-40 ASCII letters, digits and '_'; mixed case is kept as given)"
        )
    if name.lower().startswith("pg_"):
        raise ValueError(f"{what} name {name!r} is reserved by PostgreSQL (starts with 'pg_')")
    return name


def split_url(url: str) -> tuple[str, str | None]:
    """``(libpq conninfo, schema or None)`` from a taskloom PostgreSQL URL."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schema: str | None = None
    kept: list[tuple[str, str]] = []
    for key, value in params:
        if key == "schema":
            schema = validate_name(value)
        else:
            kept.append((key, value))
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))
    return conninfo, schema


def with_schema(url: str, schema: str) -> str:
    """``url`` with its ``schema`` option set (replacing any given)."""
    validate_name(schema)
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    params.append(("schema", schema))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), parts.fragment))


def psycopg_module() -> Any:
    """The ``psycopg`` module, or an ``ImportError`` that says what to install."""
    try:
        import psycopg
        import psycopg_pool  # noqa: F401 - checked here so the error names both
    except ImportError as exc:
        raise ImportError(
            "PostgreSQL URLs need psycopg 3 and psycopg_pool: pip install 'taskloom[postgres]'"
        ) from exc
    return psycopg


def connect(conninfo: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """One direct connection (migrations, LISTEN, administration)."""
    module = psycopg_module()
    conn: psycopg.Connection[Any] = module.connect(conninfo, autocommit=autocommit)
    return conn


def quote_ident(name: str) -> str:
    """A validated name as a quoted SQL identifier."""
    return '"' + validate_name(name) + '"'


#: Base names of the notification channels (one per schema, see :func:`channel`):
#: a task became claimable, and a run ended (payload: the run id).
READY = "taskloom_ready"
RUN_DONE = "taskloom_run_done"


def channel(base: str, schema: str) -> str:
    """The NOTIFY channel of ``base`` for one schema.

    Channels are database-wide, so each schema (tenant) gets its own: one
    tenant's workers are never woken by, nor can they see the run ids of,
    another tenant's runs.
    """
    return f"{base}_{schema}"


def check_pooled(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection it hands out: was it dropped while it sat idle?

    A server restart or ``pg_terminate_backend`` closes idle pooled
    connections, and the next statement on one would fail although nothing
    was wrong by then. An idle connection has nothing to read unless the
    server said something (the "terminating connection" notice, or the end
    of the stream): a zero-timeout ``select`` costs no round trip, and only
    then an empty query finds out -- raising, so the pool opens a fresh one.
    """
    import select

    if conn.closed:
        raise psycopg_module().OperationalError("the pooled connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        conn.execute("")
