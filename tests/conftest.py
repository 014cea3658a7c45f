"""Shared fixtures: a fresh journal URL per test, and isolation of the registry.

PostgreSQL tests ask for ``pg_url`` (a fresh database) or ``pg_schema_url``
(a fresh schema in one shared database, cheaper). Without a server they are
skipped -- except under ``CI=true``, where a missing server fails loudly.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloom.core import registry


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A durable SQLite journal in the test's own directory."""
    return f"sqlite:///{tmp_path / 'taskloom.db'}"


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    """Each test sees only the workflows it defines."""
    # The module, not ``taskloom.steps.workflow`` the decorator the package exports.
    step_workflows = importlib.import_module("taskloom.steps.workflow")

    saved = (dict(registry._tasks), dict(registry._workflows), dict(registry._constructors))
    saved_steps = dict(step_workflows._by_type)
    yield
    with step_workflows._lock:  # step workflows defined by a test are its own
        step_workflows._by_type.clear()
        step_workflows._by_type.update(saved_steps)
    registry._tasks.clear()
    registry._tasks.update(saved[0])
    registry._workflows.clear()
    registry._workflows.update(saved[1])
    registry._constructors.clear()
    registry._constructors.update(saved[2])


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``persist=True`` tasks write beside the test, never into the work tree."""
    from taskloom.dataflow import artifacts

    monkeypatch.setenv(artifacts.ENV_VAR, str(tmp_path / "artifacts"))
    monkeypatch.setattr(artifacts, "_store", None)
    yield


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """A reachable PostgreSQL server (see tests/pgserver.py)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        reason = "psycopg is not installed (pip install -e '.[dev]')"
        server = None
    else:
        from pgserver import find_server

        server, reason = find_server()
    if server is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but no PostgreSQL server is available: {reason}")
        pytest.skip(f"no PostgreSQL server: {reason}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: object) -> Iterator[str]:
    """A fresh, empty database of its own, dropped afterwards."""
    from pgserver import Server, create_database, drop_database

    assert isinstance(pg_server, Server)
    name = f"taskloom_test_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server, name)
    yield url
    _release_connections()
    drop_database(pg_server, name)


def _release_connections() -> None:
    """Stop the process-wide clients and engines a test left on its database.

    Otherwise their listener threads notice the dropped database and keep
    reconnecting for the rest of the session.
    """
    from taskloom.core.shared_engines import shutdown_engines
    from taskloom.distributed.client import close_shared_clients

    close_shared_clients()
    shutdown_engines(wait=False)


@pytest.fixture(scope="session")
def _pg_shared_database(pg_server: object) -> Iterator[str]:
    from pgserver import Server, create_database, drop_database

    assert isinstance(pg_server, Server)
    name = f"taskloom_shared_{uuid.uuid4().hex[:12]}"
    yield create_database(pg_server, name)
    drop_database(pg_server, name)


@pytest.fixture
def pg_schema_url(_pg_shared_database: str) -> str:
    """A URL whose tables live in a schema no other test uses."""
    return f"{_pg_shared_database}?schema=t_{uuid.uuid4().hex[:12]}"
