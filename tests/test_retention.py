"""Retention: ``taskloom prune`` and the runner/worker option delete old ended runs only.

Runs are made through the public API; "old" is expressed by pruning as of a
moment in the future (``now=``), so no test waits for time to pass.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloom import Context, DefaultRunner, DefaultRunnerConfig, WorkflowBuilder, task
from taskloom.cli import main
from taskloom.core.retention import Retention, parse_age, prune
from taskloom.core.shared_engines import shutdown_engines
from taskloom.journal import open_journal
from taskloom.steps import Client, Directive, Workflow
from taskloom.steps import Context as StepContext

LATER = time.time() + 3600  # "now" an hour from now: everything ended is an hour old


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    shutdown_engines(wait=False)


def _workflows() -> threading.Event:
    """``ok`` completes, ``bad`` fails, ``held`` runs until the returned event is set."""
    release = threading.Event()
    with WorkflowBuilder("ok"):

        @task(id="one")
        def one(ctx: Context) -> Context:
            ctx.set("done", True)
            return ctx

    with WorkflowBuilder("bad"):

        @task(id="boom", retry_attempts=1)
        def boom(ctx: Context) -> Context:
            raise RuntimeError("boom")

    with WorkflowBuilder("held"):

        @task(id="wait")
        def wait(ctx: Context) -> Context:
            release.wait(30)
            return ctx

    return release


def _counts(path: str) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("runs", "task_runs", "events")
        }


def test_prune_deletes_old_ended_runs_with_their_rows_and_never_a_running_one(
    db_url: str, tmp_path: Path
) -> None:
    release = _workflows()
    with DefaultRunner(db_url) as runner:
        done = [runner.execute("ok", Context()).run_id for _ in range(5)]
        failed = runner.execute("bad", Context()).run_id
        held = runner.start("held", Context())
        journal = runner.journal
        # Nothing has ended an hour ago yet: a cut-off in the past deletes nothing.
        assert prune(journal, 3600).runs == 0
        dry = prune(journal, 0, dry_run=True, now=LATER)
        assert (dry.runs, dry.dry_run) == (6, True)
        assert all(journal.get_run(r) is not None for r in done)
        only_failed = prune(journal, 0, statuses=["failed"], now=LATER)
        assert only_failed.runs == 1 and journal.get_run(failed) is None
        report = prune(journal, 0, batch_size=2, now=LATER)
        assert (report.runs, report.batches) == (5, 3)
        assert all(journal.get_run(r) is None for r in done)
        assert journal.get_tasks(done[0]) == [] and journal.get_events(done[0]) == []
        assert journal.get_run(held.run_id).status == "Running"  # type: ignore[union-attr]
        release.set()
        assert held.result(10).status == "Completed"
    counts = _counts(str(tmp_path / "taskloom.db"))
    assert counts["runs"] == 1 and counts["task_runs"] == 1


def test_an_ended_child_whose_parent_still_runs_is_kept(db_url: str) -> None:
    child = Workflow(workflow_type="RetChild")

    @child.start()
    async def child_start(ctx: StepContext) -> Directive:
        return ctx.next.complete(7)

    parent = Workflow(workflow_type="RetParent")

    @parent.start()
    async def parent_start(ctx: StepContext) -> Directive:
        await ctx.run_child(child)
        return ctx.next.wait()

    @parent.event("go")
    async def go(ctx: StepContext) -> Directive:
        return ctx.next.complete("went")

    client = Client(db_url)
    handle = client.start_workflow(parent, "p")
    journal = open_journal(db_url)
    try:
        deadline = time.monotonic() + 10
        while (run := journal.get_run("p.s000.0000")) is None or run.status != "Completed":
            assert time.monotonic() < deadline, "the child never completed"
            time.sleep(0.01)
        report = prune(journal, 0, now=LATER)
        assert (report.runs, report.kept) == (0, 1)
        assert journal.get_run("p.s000.0000") is not None
        handle.send("go", {})
        assert handle.result(timeout=10) == "went"
        assert prune(journal, 0, now=LATER).runs == 2  # parent ended: both may go
    finally:
        journal.close()


def test_the_runner_option_prunes_on_its_own(db_url: str) -> None:
    _workflows()
    config = DefaultRunnerConfig(retention_seconds=0.0, retention_interval_seconds=3600)
    with DefaultRunner(db_url) as runner:
        first = runner.execute("ok", Context()).run_id
    with DefaultRunner(db_url, config) as runner:
        journal = runner.journal
        deadline = time.monotonic() + 10
        while journal.get_run(first) is not None:  # the first pass runs at start
            assert time.monotonic() < deadline, "retention never pruned the ended run"
            time.sleep(0.01)


def test_a_prune_under_load_leaves_every_live_run_whole(db_url: str) -> None:
    """Runs keep starting and finishing while a prune deletes 300 old ones."""
    _workflows()
    with DefaultRunner(db_url) as runner:
        old = {runner.execute("ok", Context()).run_id for _ in range(300)}
        cutoff = time.time()
        stop = threading.Event()
        running = threading.Event()
        live: list[str] = []

        def load() -> None:
            while not stop.is_set():
                result = runner.execute("ok", Context())
                assert result.status == "Completed"
                live.append(result.run_id)
                running.set()

        worker = threading.Thread(target=load)
        worker.start()
        assert running.wait(30), "the load never got going"
        try:
            report = prune(runner.journal, time.time() - cutoff, batch_size=20)
        finally:
            stop.set()
            worker.join(30)
        assert report.runs == 300
        assert all(runner.journal.get_run(r) is None for r in old)
        for run_id in live:  # every run of the load is whole
            assert runner.journal.get_run(run_id) is not None
            assert [t.status for t in runner.journal.get_tasks(run_id)] == ["Completed"]


def test_parse_age_and_bad_input() -> None:
    assert parse_age("30d") == 30 * 86400
    assert parse_age("1.5h") == 5400
    assert parse_age("45") == 45
    with pytest.raises(ValueError, match="cannot read the age '3 days'"):
        parse_age("3 days")
    with pytest.raises(ValueError, match="only ended runs are pruned"):
        prune(open_journal("sqlite://:memory:"), 0, statuses=["running"])
    with pytest.raises(ValueError, match="retention=-1"):
        Retention(open_journal("sqlite://:memory:"), -1)


def test_cli_prune(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _workflows()
    with DefaultRunner(db_url) as runner:
        runner.execute("ok", Context())
        runner.execute("bad", Context())
    capsys.readouterr()
    assert main(["prune", "--db", db_url, "--older-than", "1d"]) == 0
    assert "deleted 0 run(s)" in capsys.readouterr().out
    assert main(["prune", "--db", db_url, "--older-than", "0s", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 2
    code = main(["prune", "--db", db_url, "--older-than", "0s", "--status", "failed"])
    assert code == 0 and "deleted 1 run(s)" in capsys.readouterr().out
    assert main(["prune", "--db", db_url, "--older-than", "soon"]) == 2
    assert "cannot read the age 'soon'" in capsys.readouterr().err
    assert main(["prune", "--db", db_url, "--older-than", "1d", "--status", "running"]) == 2
    assert "only ended runs are pruned" in capsys.readouterr().err


def test_prune_on_postgres(pg_url: str) -> None:
    _workflows()
    with DefaultRunner(pg_url) as runner:
        ids = [runner.execute("ok", Context()).run_id for _ in range(3)]
        runner.execute("bad", Context())
        report = prune(runner.journal, 0, now=LATER, batch_size=2)
        assert (report.runs, report.batches) == (4, 2)
        assert all(runner.journal.get_run(r) is None for r in ids)
        assert runner.journal.get_tasks(ids[0]) == []
