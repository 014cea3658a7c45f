"""Tenants on one PostgreSQL database: a schema and a login role each.

Isolation is PostgreSQL's own, not taskloom's: each tenant's tables live in
a schema owned by the tenant's role, with every privilege revoked from
PUBLIC, so a tenant's connection string cannot read another tenant's runs
even with hand-written SQL. Notification channels are per schema too (see
:func:`taskloom.journal.pgconnect.channel`).

Typical use, with an administrator's URL::

    admin = DatabaseAdmin("postgresql://admin@db/app")
    creds = admin.create_tenant(TenantConfig("acme", "acme_user"))
    runner = DefaultRunner(creds.connection_string)  # sees only acme's runs
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from taskloom.errors import JournalError
from taskloom.journal.pgconnect import connect, psycopg_module, split_url, validate_name
from taskloom.journal.sqlfiles import load_queries
from taskloom.journal.urls import is_postgres_url, redact_url


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """What to create: a schema, its owner role, and (optionally) the role's password."""

    schema_name: str
    username: str
    password: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.schema_name, "schema")
        validate_name(self.username, "user")

    def __repr__(self) -> str:
        return (
            f"TenantConfig(schema_name={self.schema_name!r}, username={self.username!r}, "
            "password='***')"
        )


@dataclass(frozen=True, slots=True)
class TenantCredentials:
    """How a tenant connects: ``connection_string`` pins its schema via ``search_path``."""

    schema_name: str
    username: str
    password: str
    connection_string: str

    def __repr__(self) -> str:
        return (
            f"TenantCredentials(username={self.username!r}, schema_name={self.schema_name!r}, "
            "password='***', connection_string='***')"
        )


class DatabaseAdmin:
    """Creates and removes tenants; needs a role allowed to CREATE ROLE and SCHEMA."""

    def __init__(self, database_url: str) -> None:
        if not isinstance(database_url, str) or not is_postgres_url(database_url):
            raise JournalError(
                "DatabaseAdmin requires a PostgreSQL connection. SQLite does not support "
                "database schemas or user management. Use a PostgreSQL URL like "
                f"'postgres://user:pass@host/db'; got {redact_url(database_url)!r}"
            )
        self.url = database_url
        self._conninfo, _ = split_url(database_url)
        self._q = load_queries("postgres_tenants.sql")

    def create_tenant(self, config: TenantConfig) -> TenantCredentials:
        """Create the role and its schema, migrate the tables as the tenant, return credentials.

        The tables are created by the tenant's own connection, so the tenant
        owns them and no grant on individual tables is ever needed.
        """
        password = config.password or secrets.token_urlsafe(24)
        sql = psycopg_module().sql
        role = sql.Identifier(config.username)
        schema = sql.Identifier(config.schema_name)
        try:
            with connect(self._conninfo) as conn, conn.transaction():
                exists = conn.execute(self._q["role_exists"], (config.username,)).fetchone()
                if exists and exists[0]:
                    raise JournalError(
                        f"Failed to create tenant: role {config.username!r} already exists; "
                        "pick another username or "
                        "remove_tenant() first"
                    )
                database = conn.info.dbname
                conn.execute(self._stmt("create_role", role=role, password=sql.Literal(password)))
                conn.execute(self._stmt("create_schema", schema=schema, role=role))
                conn.execute(self._stmt("revoke_public", schema=schema))
                conn.execute(
                    self._stmt("grant_connect", database=sql.Identifier(database), role=role)
                )
        except psycopg_module().Error as exc:
            raise JournalError(f"Failed to create tenant: {config.schema_name!r}: {exc}") from exc
        credentials = TenantCredentials(
            config.schema_name,
            config.username,
            password,
            self._tenant_url(config.username, password, config.schema_name),
        )
        from taskloom.journal.postgres import PostgresJournal

        try:
            PostgresJournal(credentials.connection_string, pool_size=1).close()
        except Exception as exc:
            raise JournalError(
                f"Failed to create tenant: {config.schema_name!r}: its tables could not be "
                f"created: {exc}"
            ) from exc
        return credentials

    def remove_tenant(self, schema_name: str, username: str) -> None:
        """Drop the tenant's schema (with all its runs) and its role."""
        sql = psycopg_module().sql
        role = sql.Identifier(validate_name(username, "user"))
        schema = sql.Identifier(validate_name(schema_name, "schema"))
        try:
            with connect(self._conninfo) as conn, conn.transaction():
                conn.execute(self._stmt("drop_schema", schema=schema))
                exists = conn.execute(self._q["role_exists"], (username,)).fetchone()
                if exists and exists[0]:
                    conn.execute(self._stmt("drop_owned", role=role))
                    conn.execute(self._stmt("drop_role", role=role))
        except psycopg_module().Error as exc:
            raise JournalError(f"Failed to remove tenant: {schema_name!r}: {exc}") from exc

    def _stmt(self, name: str, **parts: Any) -> Any:
        return psycopg_module().sql.SQL(self._q[name]).format(**parts)

    def _tenant_url(self, username: str, password: str, schema: str) -> str:
        parts = urlsplit(self._conninfo)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{quote(username)}:{quote(password, safe='')}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        # Quoted, so a mixed-case schema (TenantA) is not folded to lower case.
        options = quote(f'-csearch_path="{schema}"', safe="")
        query = f"options={options}"
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
