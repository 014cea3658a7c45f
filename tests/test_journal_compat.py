"""A journal written by taskloom 0.1 opens with today's taskloom and its runs resume.

``tests/fixtures/journal_v0_1/journal.db`` was left by taskloom 0.1 processes
killed inside one task of a DAG, a flow and a step run
(``make_journal.py`` says how). Today's runner migrates the file, sees the
runs' owner gone, and finishes each run from where it stopped: completed
tasks are not run again (the side-effect log says what really ran).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "journal_v0_1"

RESUME = """
import json, sqlite3, sys
import taskloom, taskloom.steps, legacy_app
url = sys.argv[1]
with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
    runs = conn.execute("SELECT kind, run_id FROM runs").fetchall()
runner = taskloom.DefaultRunner(url)          # migrates the file and recovers its runs
for kind, run_id in sorted(runs):
    result = runner.result(run_id, timeout=60)
    print(kind, result.status, json.dumps(result.output), sep="|")
runner.shutdown()
"""


def test_a_v0_1_journal_opens_and_its_runs_resume(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    shutil.copy(FIXTURE / "journal.db", db)
    log = tmp_path / "ran.log"
    env = {**os.environ, "LEGACY_LOG": str(log), "PYTHONPATH": str(FIXTURE)}
    done = subprocess.run(
        [sys.executable, "-c", RESUME, f"sqlite:///{db}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    runs = {line.split("|")[0]: line.split("|")[1:] for line in done.stdout.splitlines()}
    assert runs["dag"][0] == "Completed", runs
    assert json.loads(runs["dag"][1]) == {"first": 1, "second": 2}
    assert runs["flow"][0] == "Completed" and json.loads(runs["flow"][1]) == 4, runs
    assert runs["steps"][0] == "Completed" and json.loads(runs["steps"][1]) == 40, runs
    # Only what was in flight ran again; what 0.1 had recorded as completed did not.
    assert sorted(log.read_text().split()) == ["dag.second", "flow.double.2", "steps.finish"]
