"""A runner that fires the schedules of workflow "tick" for a while (schedule tests).

argv: URL OUT SECONDS [BLOCK]. Each run of "tick" appends a line to OUT. With
BLOCK (a file path), a run waits while that file exists, after writing
"started" to OUT: the crash test kills the process there. The process
writes "up <pid>" to OUT once its runner is running.
"""

from __future__ import annotations

import os
import sys
import time

import taskloom as cloaca

url, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
block = sys.argv[4] if len(sys.argv) > 4 else None


def _append(line: str) -> None:
    with open(out, "a") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


with cloaca.WorkflowBuilder("tick") as builder:

    @cloaca.task(id="tick")
    def tick(context: cloaca.Context) -> cloaca.Context:
        _append(f"ran {os.getpid()} {time.time():.3f}")
        if block is not None:
            _append("started")
            while os.path.exists(block):
                time.sleep(0.05)
        return context


config = cloaca.DefaultRunnerConfig(
    recovery_interval_seconds=0.2, heartbeat_interval_seconds=0.2, owner_lease_seconds=1.0
)
runner = cloaca.DefaultRunner(url, config)
_append(f"up {os.getpid()}")
time.sleep(seconds)  # how long this process stays up: the test's window, not a wait
runner.shutdown()
