"""auto_workflow's run context after a crash: a resumed run's tasks see the same run and params.

A port runs ``flow.run(params=...)``; the flow is SIGKILLed mid-run and
resumed by another process. ``get_context()`` there gives the same run id and
the same ``params`` -- including those the body does not take, which ride in
the recorded inputs.
"""

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
    from taskloom import flow, get_context, task

    SIDE = sys.argv[2]

    def note(name):
        ctx = get_context()
        with open(SIDE, "a") as f:
            f.write(json.dumps([name, ctx.run_id, ctx.attempt, ctx.params]) + "\\n")
            f.flush()
            os.fsync(f.fileno())

    @task
    def first(x):
        note("first")
        return x + 1

    @task
    def second(x):
        note("second")
        if os.environ.get("SLOW") == "1":
            time.sleep(60)
        return x * 10

    @flow(name="with_context")
    def with_context(x):
        return second(first(x))

    if sys.argv[1] == "run":
        print(json.dumps(with_context.run(params={"x": 1, "label": "L"}, db=sys.argv[3])))
    else:
        print(json.dumps(taskloom.resume(sys.argv[4], db=sys.argv[3], timeout=20)))
    """
)


@pytest.mark.timeout(60)
def test_resumed_tasks_see_the_same_run_and_params(tmp_path: Path) -> None:
    script = tmp_path / "ctx.py"
    script.write_text(SCRIPT)
    side = tmp_path / "side.txt"
    db = f"sqlite:///{tmp_path / 'flow.db'}"
    env = {**os.environ, "SLOW": "1"}
    kill_when_reached(
        [str(script), "run", str(side), db], side, "second", env=env, cwd=tmp_path, timeout=20
    )
    journal = open_journal(db)
    run = journal.list_runs(limit=1)[0]
    journal.close()
    env.pop("SLOW")
    last = run_to_end([str(script), "resume", str(side), db, run.run_id], env=env, cwd=tmp_path)
    assert json.loads(last) == 20
    lines = [json.loads(line) for line in side.read_text().splitlines()]
    params = {"x": 1, "label": "L"}
    assert [line[0] for line in lines] == ["first", "second", "second"]
    assert all(line[1] == run.run_id and line[3] == params for line in lines)
    # The attempt the crash interrupted does not count: the re-run is attempt 1 again.
    assert [line[2] for line in lines] == [1, 1, 1]
