"""The auto_workflow port runs every test twice: on a durable SQLite journal and in memory.

The ported code calls ``flow.run()`` with no ``db=``, as auto_workflow code
does; the journal comes from ``$TASKLOOM_DATABASE_URL``. Each test runs in
its own directory (settings are read from the ``pyproject.toml`` there)
with the auto_workflow hooks reset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloom.dataflow import config
from taskloom.dataflow.hooks import middleware, named_events, secrets, tracing


@pytest.fixture(autouse=True, params=["sqlite", "memory"])
def journal_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'taskloom.db'}" if request.param == "sqlite" else "memory://"
    monkeypatch.setenv("TASKLOOM_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    config.reload_config()
    named_events.clear()
    middleware.clear()
    tracing.set_tracer(tracing.DummyTracer())
    secrets.set_secrets_provider(secrets.EnvSecrets())
    yield url
    middleware.clear()
    tracing.set_tracer(tracing.DummyTracer())
    named_events.reset()  # later tests see no subscriber at all
    config._cached = None  # re-read after monkeypatch restored the environment
