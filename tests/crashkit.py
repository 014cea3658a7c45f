"""Shared mechanics of the SIGKILL crash tests.

A crash test starts a child process running a workflow, waits until the
child's side-effect file shows it reached a chosen point, kills it with
SIGKILL, and then lets a fresh process finish the run. Only the workflow
and the assertions differ between tests, so the process handling lives here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def kill_when_reached(
    argv: Sequence[str],
    side: Path,
    marker: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 20.0,
    settle: float = 0.0,
) -> None:
    """Run ``argv`` in a child; SIGKILL it once ``marker`` appears in ``side``.

    ``settle`` waits a little longer first, for a completion the test wants
    committed before the kill.
    """
    child = subprocess.Popen([sys.executable, *argv], env=dict(env or os.environ), cwd=cwd)
    try:
        deadline = time.monotonic() + timeout
        while marker not in (side.read_text() if side.exists() else ""):
            assert child.poll() is None, f"the child exited ({child.returncode}) before {marker!r}"
            assert time.monotonic() < deadline, f"the child never reached {marker!r}"
            time.sleep(0.05)
        time.sleep(settle)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()


def run_to_end(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 40.0,
) -> str:
    """Run ``argv`` in a fresh process that must succeed; its last line of output."""
    done = subprocess.run(
        [sys.executable, *argv],
        env=dict(env or os.environ),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""
