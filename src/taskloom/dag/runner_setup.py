"""Opening a runner's database with Cloaca's error contract.

Cloaca raises ``ValueError`` for a schema name it refuses and
``RuntimeError("Failed to set up schema ...")`` when the database cannot be
reached or set up. Code written against Cloaca catches exactly those, so a
runner never lets a driver exception (``psycopg.OperationalError``,
``sqlite3.OperationalError``) escape from its constructor: it becomes a
:class:`~taskloom.errors.RunnerSetupError` (a ``RuntimeError``) that says
which database and what failed, with the driver's error as its cause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from taskloom.errors import RunnerSetupError
from taskloom.journal.pgconnect import split_url, validate_name
from taskloom.journal.pgconnect import with_schema as url_with_schema
from taskloom.journal.urls import is_postgres_url, redact_url, resolve_url

T = TypeVar("T")


def schema_url(database_url: str | None, schema: str) -> str:
    """``database_url`` with its tables in ``schema``; Cloaca's ``ValueError`` texts if not."""
    resolved = resolve_url(database_url)
    if not is_postgres_url(resolved):
        raise ValueError(
            "Schema-based multi-tenancy requires PostgreSQL. SQLite does not support database "
            "schemas. Use a PostgreSQL URL like 'postgres://user:pass@host/db'; got "
            f"{redact_url(resolved)!r}, give a postgresql:// URL"
        )
    validate_name(schema, "schema")
    return url_with_schema(resolved, schema)


def open_or_explain(database_url: str | None, opener: Callable[[str | None], T]) -> T:
    """``opener(database_url)``, with any failure to reach or set up the database explained.

    ``ValueError`` and ``TypeError`` (a malformed URL or option) pass unchanged.
    """
    try:
        return opener(database_url)
    except (ValueError, TypeError, ImportError):
        raise
    except Exception as exc:
        where = redact_url(resolve_url(database_url))
        schema = _schema_of(database_url)
        raise RunnerSetupError(
            f"Failed to set up schema {schema!r} for the journal at {where!r}: "
            f"{type(exc).__name__}: {str(exc).strip()}. Check that the database is running and "
            "reachable, and that the URL's user may create tables there"
        ) from exc


def _schema_of(database_url: str | None) -> str:
    resolved = resolve_url(database_url)
    if not is_postgres_url(resolved):
        return "main"
    try:
        return split_url(resolved)[1] or "public"
    except ValueError:
        return "public"
