"""Errors that say what happened: masked passwords, a full disk, timeouts, bad step input."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

import taskloom
from taskloom import DefaultRunner, JournalError, RunNotFoundError, flow, task
from taskloom.core.shared_engines import engine_for, shutdown_engines
from taskloom.journal.urls import redact_url
from taskloom.steps import Client, Context, Directive, Workflow

SECRET = "hunter2-Secret"


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    shutdown_engines(wait=False)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:pw@db:5432/app?schema=s", "postgresql://bob:***@db:5432/app?schema=s"),
        ("postgres://bob:p%40ss@db/app", "postgres://bob:***@db/app"),
        ("postgresql://bob:pw@db", "postgresql://bob:***@db"),
        (
            "postgresql://db/app?password=pw&sslmode=require",
            "postgresql://db/app?password=***&sslmode=require",
        ),
        ("postgresql://u@db/app?sslpassword=pw", "postgresql://u@db/app?sslpassword=***"),
        ("host=db password=pw dbname=app", "host=db password=*** dbname=app"),
        ("host=db password='p w' user=u", "host=db password=*** user=u"),
        ("postgresql://bob@db/app", "postgresql://bob@db/app"),
        ("sqlite:///var/lib/app/taskloom.db", "sqlite:///var/lib/app/taskloom.db"),
        ("memory://", "memory://"),
    ],
)
def test_redact_url_masks_every_form_of_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def _with_password(url: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:{SECRET}@{host}{port}"))


def test_no_message_shows_the_database_password(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = _with_password(pg_url)  # the test server trusts local users: any password works
    caplog.set_level(logging.DEBUG, logger="taskloom")
    messages: list[str] = []
    with pytest.raises(RunNotFoundError) as missing:
        taskloom.resume("no-such-run", db=url)
    messages.append(str(missing.value))
    with pytest.raises(RunNotFoundError) as missing:
        engine_for(url).wait("no-such-run", timeout=1)
    messages.append(str(missing.value))
    with pytest.raises(RunNotFoundError) as missing:
        DefaultRunner(url, execute=False).result("no-such-run", timeout=1)
    messages.append(str(missing.value))
    with pytest.raises(ValueError) as wrong:
        DefaultRunner("sqlite://x.db", schema="s")
    messages.append(str(wrong.value))
    bad_port = url.replace(f"{urlsplit(url).port}", "1", 1)
    with pytest.raises(JournalError) as unreachable:
        from taskloom.journal.postgres import PostgresJournal

        PostgresJournal(bad_port, connect_timeout=2)
    messages.append(str(unreachable.value))
    for args in (["runs"], ["inspect", "no-such-run"], ["worker", "--import", "x"]):
        cli_url = url if args[0] != "worker" else url.replace("postgresql", "mysql", 1)
        done = subprocess.run(
            [sys.executable, "-m", "taskloom", *args, "--db", cli_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        messages.append(done.stdout + done.stderr)
    messages.append(caplog.text)
    assert all(SECRET not in m for m in messages), [m for m in messages if SECRET in m]
    assert sum("***" in m for m in messages) >= 6


def _fill(journal: Any, free_pages: int) -> None:
    """Let the journal's file grow by only ``free_pages`` pages: a real SQLITE_FULL."""
    with journal._lock:
        used = journal._conn.execute("PRAGMA page_count").fetchone()[0]
        journal._conn.execute(f"PRAGMA max_page_count = {used + free_pages}")


def test_a_full_disk_is_reported_as_such_and_nothing_is_lost(db_url: str) -> None:
    @task
    def small() -> int:
        return 1

    @task
    def big(x: int) -> str:
        return "x" * 400_000

    @flow(name="fills_the_disk")
    def fills() -> Any:
        return big(small())

    engine = engine_for(db_url)
    _fill(engine.journal, 8)
    with pytest.raises(JournalError) as full:
        fills.run(db=db_url)
    message = str(full.value)
    assert "disk is full" in message and "nothing already recorded was lost" in message
    assert "no transaction is active" not in message
    shutdown_engines(wait=False)
    # Space is back: the journal opens and the run resumes to its end.
    journal = taskloom.journal.open_journal(db_url)
    run = journal.list_runs(limit=1)[0]
    assert journal.get_run(run.run_id).status == "Running"  # type: ignore[union-attr]
    journal.close()
    assert taskloom.resume(run.run_id, db=db_url, timeout=30) == "x" * 400_000


def test_result_timeout_names_the_run_and_the_wait(db_url: str) -> None:
    import threading

    from taskloom import WorkflowBuilder

    gate = threading.Event()
    with WorkflowBuilder("slow_for_timeout") as builder:

        @task(id="waits")
        def waits(ctx: Any) -> Any:
            gate.wait(10)
            return ctx

    runner = DefaultRunner(db_url)
    try:
        handle = runner.start(builder.build().name, taskloom.Context())
        with pytest.raises(
            TimeoutError,
            match=rf"run {handle.run_id} of 'slow_for_timeout' "
            r"did not finish within 0.2 s; it is still running",
        ):
            handle.result(timeout=0.2)
        with pytest.raises(TimeoutError, match=rf"run {handle.run_id} .*within 0.1 s"):
            runner.result(handle.run_id, timeout=0.1)
        gate.set()
        assert handle.result(timeout=10).is_success
    finally:
        gate.set()
        runner.shutdown()


def test_a_step_input_the_start_handler_cannot_take_is_refused_at_start(db_url: str) -> None:
    wf = Workflow(workflow_type="TakesOrder")

    @wf.start()
    async def start(ctx: Context, order_id: str, quantity: int = 1) -> Directive:
        return ctx.next.complete({"order": order_id, "quantity": quantity})

    client = Client(db_url)
    with pytest.raises(TypeError, match=r"'TakesOrder'.*'start'.*'qty'.*order_id, quantity"):
        client.start_workflow(wf, "o-1", {"order_id": "a", "qty": 2})
    with pytest.raises(TypeError, match=r"missing a required argument: 'order_id'"):
        client.start_workflow(wf, "o-2", None)
    assert client._engine.journal.get_run("o-1") is None  # nothing was recorded
    assert client.run_workflow(wf, "o-3", {"order_id": "a"}, timeout=20) == {
        "order": "a",
        "quantity": 1,
    }


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_end_a_task_without_retry(
    db_url: str, tmp_path: Path, raised: type[BaseException]
) -> None:
    attempts = tmp_path / "attempts"

    @task(retries=3)
    def stops() -> int:
        with attempts.open("a") as f:
            f.write("x")
        raise raised()

    @flow(name=f"stops_{raised.__name__}")
    def stopping() -> Any:
        return stops()

    with pytest.raises(Exception, match=raised.__name__):
        stopping.run(db=db_url)
    assert attempts.read_text() == "x"  # one attempt, no retry
