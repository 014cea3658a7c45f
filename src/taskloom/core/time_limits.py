"""Time-limit options (``workflow_timeout``, ``task_timeout``...) checked the same everywhere.

Every way of starting a run (local runner, distributed client, flows) takes
the same limits, so one function refuses a bad one with one message.
"""

from __future__ import annotations


def check_timeout(name: str, value: float | None) -> float | None:
    """A timeout option: a positive number of seconds, or None for no limit.

    ``name`` is how the caller spelled the option, so the message names it.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name}={value!r}: give a positive number of seconds or None")
    return float(value)
