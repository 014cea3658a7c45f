"""Durable ``ctx.sleep`` for real: SIGKILL while sleeping, restart, wake at the recorded time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SLEEP = 4.0
#: The kill comes this long into the sleep: a restart that slept SLEEP again would
#: wake at least this late, so it bounds how long the restart itself may take.
KILL_AFTER = 2.0

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from taskloom import task
    from taskloom.steps import Client, Context, Directive, Workflow

    SIDE, DB = sys.argv[2], sys.argv[3]

    def note(text):
        with open(SIDE, "a") as f:
            f.write(text + "\\n")
            f.flush()
            os.fsync(f.fileno())

    wf = Workflow(workflow_type="Nap")

    @task
    async def begin() -> float:
        note("begin")
        return time.time()

    @task
    async def finish(began: float) -> float:
        note("finish")
        return time.time() - began

    @wf.start()
    async def start(ctx: Context, seconds: float) -> Directive:
        began = await begin()
        await ctx.sleep(seconds)
        return ctx.next.complete(await finish(began))

    client = Client(DB)
    if sys.argv[1] == "run":
        client.start_workflow("Nap", "nap-1", {"seconds": float(sys.argv[4])})
        asyncio.run(asyncio.sleep(120))
    else:
        print(json.dumps(client.get_handle("nap-1").result(timeout=30)))
    """
)


@pytest.mark.timeout(60)
def test_sigkill_while_sleeping_wakes_at_the_recorded_time(tmp_path: Path) -> None:
    script = tmp_path / "nap.py"
    script.write_text(SCRIPT)
    side = tmp_path / "side.txt"
    db = f"sqlite:///{tmp_path / 'steps.db'}"
    child = subprocess.Popen([sys.executable, str(script), "run", str(side), db, str(SLEEP)])
    deadline = time.monotonic() + 20
    while "begin" not in (side.read_text() if side.exists() else ""):
        assert time.monotonic() < deadline, "the child never started sleeping"
        time.sleep(0.02)
    time.sleep(KILL_AFTER)  # well into the sleep
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    resumed = subprocess.run(
        [sys.executable, str(script), "resume", str(side), db],
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert resumed.returncode == 0, resumed.stderr
    elapsed = json.loads(resumed.stdout.strip().splitlines()[-1])
    # Woken at begin + SLEEP (recorded), not SLEEP after the restart (>= begin +
    # KILL_AFTER + SLEEP); the slack is what a loaded machine takes to restart.
    assert SLEEP <= elapsed < SLEEP + KILL_AFTER, elapsed
    assert side.read_text().split("\n")[:-1] == ["begin", "finish"]
