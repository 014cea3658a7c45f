"""Structured logs: run id, task id and attempt on every record of the taskloom logger."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import taskloom
from taskloom import Context, DefaultRunner, WorkflowBuilder, task
from taskloom.core.log_fields import JsonFormatter, TaskFieldsFilter


def test_task_records_carry_run_task_and_attempt(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    with WorkflowBuilder("flaky_logs"):

        @task(id="flaky", retry_attempts=2, retry_delay_ms=1)
        def flaky(ctx: Context) -> Context:
            calls.append(1)
            raise ValueError(f"try {len(calls)}")

    caplog.set_level(logging.INFO, logger="taskloom")
    with DefaultRunner(db_url) as runner:
        result = runner.execute("flaky_logs", Context())
    assert result.status == "Failed"
    by_message = {r.getMessage().split(":")[0]: r for r in caplog.records}
    run = result.run_id
    retry = by_message[f"task 'flaky' of run {run} failed (attempt 1), retrying in 0.001 s"]
    assert (retry.run_id, retry.task_id, retry.attempt) == (result.run_id, "flaky", 1)  # type: ignore[attr-defined]
    final = by_message[f"task 'flaky' of run {result.run_id} failed after 2 attempt(s)"]
    assert (final.run_id, final.task_id, final.attempt) == (result.run_id, "flaky", 2)  # type: ignore[attr-defined]
    finished = next(r for r in caplog.records if "finished" in r.getMessage())
    assert (finished.run_id, finished.task_id) == (result.run_id, None)  # type: ignore[attr-defined]


def test_every_record_has_the_fields_and_no_handler_is_installed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="taskloom")
    taskloom.logger.info("not about any run")
    record = caplog.records[-1]
    assert (record.run_id, record.task_id, record.attempt) == (None, None, None)  # type: ignore[attr-defined]
    assert taskloom.logger.handlers == []
    assert sum(isinstance(f, TaskFieldsFilter) for f in taskloom.logger.filters) == 1


def test_json_formatter_prints_one_object_with_the_fields() -> None:
    record = logging.LogRecord("taskloom", logging.WARNING, __file__, 1, "late %s", ("x",), None)
    record.run_id, record.task_id, record.attempt = "r1", "t1", 3
    document = json.loads(JsonFormatter().format(record))
    assert document["message"] == "late x" and document["level"] == "WARNING"
    assert (document["run_id"], document["task_id"], document["attempt"]) == ("r1", "t1", 3)
    assert document["time"].endswith("Z")


def test_cli_log_format_json(tmp_path: Path) -> None:
    app = tmp_path / "logged_app.py"
    app.write_text(
        "import taskloom\n"
        "with taskloom.WorkflowBuilder('logged') as b:\n"
        "    @taskloom.task(id='boom', retry_attempts=1)\n"
        "    def boom(context):\n"
        "        raise RuntimeError('no')\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "taskloom", "run", f"{app}:logged", "--log-format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    failed = [d for d in lines if "failed after 1 attempt" in d["message"]]
    assert failed and failed[0]["task_id"] == "boom" and failed[0]["attempt"] == 1
    assert failed[0]["run_id"]
