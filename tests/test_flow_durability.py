"""A flow run survives SIGKILL: a new process resumes it without re-running completed nodes."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from crashkit import kill_when_reached, run_to_end
from taskloom.journal import open_journal

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    import taskloom
    from taskloom import flow, task

    SIDE = sys.argv[2]

    def note(text):
        with open(SIDE, "a") as f:
            f.write(text + "\\n")
            f.flush()
            os.fsync(f.fileno())

    @task
    def step1(x):
        note("step1")
        return x + 1

    @task
    def step2(x):
        note("step2")
        if os.environ.get("SLOW") == "1":
            time.sleep(60)
        return x * 10

    @task
    def step3(x):
        note("step3")
        return [x, "done"]

    @flow(name="crashy")
    def crashy(x):
        return step3(step2(step1(x)))

    if sys.argv[1] == "run":
        print(json.dumps(crashy.run(1, db=sys.argv[3])))
    else:
        print(json.dumps(taskloom.resume(sys.argv[4], db=sys.argv[3], timeout=20)))
    """
)


@pytest.mark.timeout(60)
def test_sigkill_mid_flow_then_resume_in_a_new_process(tmp_path: Path) -> None:
    script = tmp_path / "crashy.py"
    script.write_text(SCRIPT)
    side = tmp_path / "side.txt"
    db = f"sqlite:///{tmp_path / 'flow.db'}"
    env = {**os.environ, "SLOW": "1"}
    # Killed while step2 runs; step1's completion was committed before it started.
    kill_when_reached(
        [str(script), "run", str(side), db],
        side,
        "step2",
        env=env,
        cwd=tmp_path,
        timeout=20,
        settle=0.2,
    )

    journal = open_journal(db)
    run = journal.list_runs(limit=1)[0]
    assert (run.kind, run.status) == ("flow", "Running")
    statuses = {t.task_key: t.status for t in journal.get_tasks(run.run_id)}
    assert statuses["step1#0"] == "Completed"
    journal.close()

    env.pop("SLOW")
    last = run_to_end([str(script), "resume", str(side), db, run.run_id], env=env, cwd=tmp_path)
    assert json.loads(last) == [20, "done"]
    # step1 completed before the crash and was not run again; step2 was in flight
    # (at-least-once), step3 ran once.
    assert side.read_text().split() == ["step1", "step2", "step2", "step3"]

    journal = open_journal(db)
    final = journal.get_run(run.run_id)
    assert final is not None and final.status == "Completed"
    journal.close()
