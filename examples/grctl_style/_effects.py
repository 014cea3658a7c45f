"""Side effects of the example tasks, written outside the engine.

Every task appends one line to a file (``$GRCTL_EXAMPLE_EFFECTS``, default
``effects.log``) before it returns, so what really ran -- and how often --
can be checked after a crash. ``$GRCTL_EXAMPLE_LATENCY`` (seconds, default
0.1) is how long the slow "external API" calls take.
"""

from __future__ import annotations

import os


def record(line: str) -> None:
    """Append ``line`` durably (flushed and fsynced, as a real side effect would be)."""
    with open(os.environ.get("GRCTL_EXAMPLE_EFFECTS", "effects.log"), "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def latency() -> float:
    return float(os.environ.get("GRCTL_EXAMPLE_LATENCY", "0.1"))


def workflow_id(default: str) -> str:
    return os.environ.get("GRCTL_EXAMPLE_ID", default)
