"""Shared fixtures: a fresh journal URL per test, and isolation of the registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloom.authoring import registry


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A durable SQLite journal in the test's own directory."""
    return f"sqlite:///{tmp_path / 'taskloom.db'}"


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    """Each test sees only the workflows it defines."""
    saved = (dict(registry._tasks), dict(registry._workflows), dict(registry._constructors))
    yield
    registry._tasks.clear()
    registry._tasks.update(saved[0])
    registry._workflows.clear()
    registry._workflows.update(saved[1])
    registry._constructors.clear()
    registry._constructors.update(saved[2])


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``persist=True`` tasks write beside the test, never into the work tree."""
    from taskloom import artifacts

    monkeypatch.setenv(artifacts.ENV_VAR, str(tmp_path / "artifacts"))
    monkeypatch.setattr(artifacts, "_store", None)
    yield
