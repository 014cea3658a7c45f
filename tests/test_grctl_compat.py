"""The module twins of grctl (``taskloom.compat.grctl``): names, connections, PostgreSQL."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import taskloom.steps as steps
from taskloom.compat.grctl.client import Client, Connection, get_logger, setup_logging
from taskloom.compat.grctl.worker import Worker

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "grctl_style"

TWINS = {
    "taskloom.compat.grctl.client": ["Client", "Connection", "get_logger", "setup_logging"],
    "taskloom.compat.grctl.worker": ["Context", "StoreKeyNotFoundError", "Worker", "task"],
    "taskloom.compat.grctl.workflow": ["Directive", "Workflow", "WorkflowHandle"],
    "taskloom.compat.grctl.models": ["Directive", "ErrorDetails", "RetryPolicy", "RunInfo"],
    "taskloom.compat.grctl.models.errors": [
        "WorkflowAlreadyRunningError",
        "WorkflowError",
        "WorkflowNotFoundError",
        "WorkflowTypeNotRegisteredError",
    ],
    "taskloom.compat.grctl.nats": ["Connection"],
}


@pytest.mark.parametrize("module", sorted(TWINS))
def test_every_twin_has_grctl_names(module: str) -> None:
    loaded = importlib.import_module(module)
    assert set(TWINS[module]) <= set(loaded.__all__)
    for name in TWINS[module]:
        assert getattr(loaded, name) is not None


def test_twins_map_onto_taskloom_steps() -> None:
    from taskloom import task
    from taskloom.compat.grctl import models, worker, workflow

    assert workflow.Workflow is steps.Workflow and workflow.Directive is steps.Directive
    assert workflow.WorkflowHandle is steps.AsyncWorkflowHandle
    assert worker.Context is steps.Context and worker.task is task
    assert issubclass(worker.Worker, steps.Worker)
    assert models.errors.WorkflowError is steps.WorkflowError


def test_connection_names_a_journal_not_a_nats_server(db_url: str) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="taskloom needs no NATS server"):
            await Connection.connect(servers=["nats://localhost:4225"])
        assert (await Connection.connect(db_url)).url == db_url
        assert (await Connection.connect(url=db_url)).url == db_url
        connection = await Connection.connect([db_url])
        client = Client(connection)
        with pytest.raises(ValueError, match="one run per workflow id"):
            await client.get_history("x", run_id="other")
        await connection.close()
        with pytest.raises(RuntimeError, match="is closed; connect again"):
            await client.describe("x")

    asyncio.run(main())


def test_connection_defaults_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    monkeypatch.setenv("TASKLOOM_DATABASE_URL", db_url)
    assert asyncio.run(Connection.connect()).url == db_url


def test_logging_helpers(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        setup_logging(level=logging.INFO)
        get_logger("grctl.test").info("hello %s", "there")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    out = capsys.readouterr().out
    assert "INFO " in out and "[test_grctl_compat.test_logging_helpers:" in out
    assert out.rstrip().endswith("hello there")
    assert get_logger("grctl.other").level == logging.DEBUG


def test_worker_needs_a_connection_and_workflows(db_url: str) -> None:
    connection = asyncio.run(Connection.connect(db_url))
    with pytest.raises(TypeError, match="non-empty list"):
        Worker(workflows=[], connection=connection)


PG_EXAMPLES = {
    "hello_world": ('"Hello, World!"', ["greeting-api World", "deliver Hello, World!"]),
    "child_workflow": ("Order ORDER-001 completed with payment status: success", None),
    "wait_events": ('"Hello, Mr Cem! Goodbye, Cem! Until next time!"', None),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("example", sorted(PG_EXAMPLES))
def test_examples_on_postgresql_workers(pg_url: str, tmp_path: Path, example: str) -> None:
    """On PostgreSQL grctl's Worker is taskloom's distributed worker (in this process)."""
    effects = tmp_path / "effects.log"
    env = {
        **os.environ,
        "TASKLOOM_DATABASE_URL": pg_url,
        "GRCTL_EXAMPLE_EFFECTS": str(effects),
        "GRCTL_EXAMPLE_LATENCY": "0",
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{example}.py")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result, effects_expected = PG_EXAMPLES[example]
    assert f"result: {result}" in done.stdout
    assert "taskloom worker" in done.stdout + done.stderr  # the distributed worker served it
    if effects_expected is not None:
        assert effects.read_text().splitlines() == effects_expected
