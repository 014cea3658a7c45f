"""A large context is written to the SQLite journal once per copy the run needs.

Measured before the fix: a 50 MB context in a one-task DAG made a 200 MB
file (the input rewritten with every update of its run row, plus the result
stored again beside the task output that it equals). Now: input once, the
task's output once, the result a reference to that output.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from taskloom import Context, DefaultRunner, WorkflowBuilder, task
from taskloom.journal import open_journal

SIZE = 4 * 1024 * 1024


def _file_size(path: Path) -> int:
    return sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}"))


def test_a_large_context_is_not_written_twice(tmp_path: Path) -> None:
    with WorkflowBuilder("large_context") as builder:

        @task(id="mark")
        def mark(ctx: Any) -> Any:
            ctx.set("seen", True)
            return ctx

    db = tmp_path / "large.db"
    runner = DefaultRunner(f"sqlite:///{db}")
    try:
        result = runner.execute(builder.build().name, Context({"blob": "x" * SIZE}))
        assert result.is_success
        assert result.final_context.get("seen") is True
        assert len(result.final_context.get("blob")) == SIZE
    finally:
        runner.shutdown()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    # Two copies are needed (the input and the task's output): not four.
    assert _file_size(db) < 2.3 * SIZE, _file_size(db)
    journal = open_journal(f"sqlite:///{db}")
    run = journal.list_runs(limit=1)[0]
    assert run.final_json == journal.get_tasks(run.run_id)[0].output_json
    assert len(run.input_json) > SIZE
    journal.close()


def test_runs_recorded_before_the_migration_still_read(tmp_path: Path) -> None:
    """A run row that holds its own input and result (schema < 5) reads as before."""
    db = tmp_path / "old.db"
    journal = open_journal(f"sqlite:///{db}")
    journal.close()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO runs (run_id, workflow_name, workflow_version, kind, status, input_json,"
            " final_json, created_at) VALUES ('old', 'w', 'v', 'dag', 'Completed', '{\"a\":1}',"
            " '{\"b\":2}', 1.0)"
        )
    conn.close()
    journal = open_journal(f"sqlite:///{db}")
    run = journal.get_run("old")
    journal.close()
    assert run is not None and (run.input_json, run.final_json) == ('{"a":1}', '{"b":2}')
