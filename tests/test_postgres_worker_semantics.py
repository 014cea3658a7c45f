"""Distributed runs mean what local runs mean: retries, skips, failures, results.

An in-process :class:`~taskloom.Worker` executes runs submitted by a
:class:`~taskloom.Client`; the same workflow also runs locally to compare.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskloom import Client, Context, DefaultRunner, Worker, WorkflowBuilder, task

pytest.importorskip("psycopg")


@pytest.fixture
def client(pg_schema_url: str) -> Iterator[Client]:
    with Client(pg_schema_url) as opened:
        yield opened


def _define() -> dict[str, int]:
    calls = {"flaky": 0}
    with WorkflowBuilder("semantics"):

        @task(id="flaky", retry_attempts=3, retry_delay_ms=50)
        def flaky(ctx: Context) -> Context:
            calls["flaky"] += 1
            if calls["flaky"] < 3:
                raise ConnectionError("not yet")
            ctx.set("flaky", calls["flaky"])
            return ctx

        @task(id="broken", retry_attempts=1)
        def broken(ctx: Context) -> Context:
            raise ValueError("always")

        @task(id="after_broken", dependencies=["broken"])
        def after_broken(ctx: Context) -> Context:
            return ctx

        @task(id="join", dependencies=["flaky"])
        def join(ctx: Context) -> Context:
            ctx.set("joined", True)
            return ctx

    return calls


def test_retries_skips_and_failures_match_local_execution(
    client: Client, pg_schema_url: str, db_url: str
) -> None:
    calls = _define()
    worker = Worker(pg_schema_url, workflows=["semantics"], lease=2.0).start()
    try:
        remote = client.execute("semantics", {"x": 1}, timeout=30)
    finally:
        worker.stop(timeout=10)
    assert calls["flaky"] == 3
    calls["flaky"] = 0
    with DefaultRunner(db_url) as runner:
        local = runner.execute("semantics", {"x": 1})
    assert remote.status == local.status == "Failed"
    assert remote.error_message == local.error_message
    assert remote.final_context.to_dict() == local.final_context.to_dict()
    for key, outcome in local.task_results.items():
        assert remote.task_results[key].status == outcome.status, key
        assert remote.task_results[key].attempts == outcome.attempts, key
    assert remote.task_results["after_broken"].status == "Skipped"
    kinds = [e.kind for e in client.journal.get_events(remote.run_id)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("task_retry") == 2


def test_a_worker_refuses_a_sqlite_url(db_url: str) -> None:
    _define()
    with pytest.raises(ValueError, match="postgresql"):
        Worker(db_url)
