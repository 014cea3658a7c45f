"""Is the engine process that owns a run still alive?

On the same host the answer comes from the process table at once, so a
crashed runner's runs are recovered within a second, not after a lease. For
other hosts sharing a database the heartbeat timestamp decides.
"""

from __future__ import annotations

import os
import socket
import time

from taskloom.journal.records import RunnerRecord

HOSTNAME = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a running (not zombie) process on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return True
    # Field 3, after the parenthesised command name, is the state; Z = zombie.
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state != ["Z"] and state != ["X"]


def process_start_time(pid: int) -> float | None:
    """When ``pid`` started (epoch seconds), from /proc; None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[-1].split()
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime"))
        ticks = os.sysconf("SC_CLK_TCK")
        # After the command name: state is field 3, starttime is field 22.
        return boot + int(fields[19]) / ticks
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def runner_alive(runner: RunnerRecord, lease_seconds: float, now: float | None = None) -> bool:
    """Whether a registered runner should still be trusted with its runs."""
    if runner.hostname == HOSTNAME:
        # The process table is the truth here; a heartbeat could lag behind a
        # busy event loop and make a live runner look dead. A process that
        # started after the runner registered has merely reused its pid.
        if not pid_alive(runner.pid):
            return False
        started = process_start_time(runner.pid)
        return started is None or started <= runner.started_at + 1.0
    now = time.time() if now is None else now
    return now - runner.heartbeat_at < lease_seconds
