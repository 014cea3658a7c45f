"""SIGKILL a runner process at seeded random moments, again and again, then resume.

One process runs runs of all three styles at once (DAG, flow, steps) on one
SQLite file; the test kills it "after the next k task starts" (k seeded),
starts a fresh process that resumes the orphaned runs, kills that one too
at a seeded moment, and so on -- new batches of runs are started when
everything has ended -- until every style has seen its quota of kills.
Then a last process resumes what is left, and :func:`faultkit.check` holds
the journal and the bodies' own logs to the crash guarantees.

``TASKLOOM_FAULTS_HEAVY=1`` raises the quota from 8 to 200 kills per style.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from faultkit import (
    SEED,
    STYLES_APP,
    SideLog,
    Snapshot,
    Tally,
    check,
    reference_outputs,
    rng_for,
    scaled,
    snapshot,
    spawn,
    suite_env,
    unfinished,
    wait_progress,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses SIGKILL")

RUNS_PER_STYLE = 2


@pytest.mark.timeout(scaled(120, 3600))
def test_sigkill_runner_at_random_moments_then_resume(tmp_path: Path) -> None:
    target = scaled(8, 200)
    rng = rng_for("sqlite-kills")
    db = f"sqlite:///{tmp_path / 'faults.db'}"
    side = SideLog(tmp_path / "side")
    env = suite_env(side)
    log = tmp_path / "processes.log"
    tally = Tally("sqlite-kills", "sqlite", f"{SEED}:sqlite-kills")
    snapshots: list[Snapshot] = []
    killed: set[int] = set()
    batches: list[int] = []
    started = time.monotonic()

    def quota_met() -> bool:
        return all(tally.kills[s] >= target for s in ("dag", "flow", "steps"))

    while not quota_met():
        if unfinished(db) == 0:
            batches.append(len(batches))
            argv = [str(STYLES_APP), db, str(side.dir), "start", str(batches[-1])]
            argv.append(str(RUNS_PER_STYLE))
        else:
            argv = [str(STYLES_APP), db, str(side.dir), "resume"]
        child = spawn(argv, env, log)
        steps = rng.randint(1, 12)
        jitter = rng.random() * 0.02
        reached = wait_progress(side, steps, lambda child=child: child.poll() is not None)
        if reached and child.poll() is None:
            time.sleep(jitter)  # the seeded moment: a little past the k-th start
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            killed.add(child.pid)
            snap = snapshot(db, side, child.pid)
            snapshots.append(snap)
            tally.count_kill(snap)
        else:
            assert child.wait(120) == 0, log.read_text()[-3000:]
    if unfinished(db):
        last = spawn([str(STYLES_APP), db, str(side.dir), "resume"], env, log)
        assert last.wait(120) == 0, log.read_text()[-3000:]
    tally.extra["seconds"] = round(time.monotonic() - started, 1)
    tally.extra["processes_killed"] = len(killed)
    check(
        db,
        side,
        tally,
        reference=reference_outputs(tmp_path, batches, RUNS_PER_STYLE),
        snapshots=snapshots,
        killed=killed,
    )
