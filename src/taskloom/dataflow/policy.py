"""``FailurePolicy``: what a flow run does when one of its tasks fails for good.

auto_workflow spells the policies as constants of a class
(``FailurePolicy.FAIL_FAST``); taskloom has always accepted the plain
strings. A :class:`~enum.StrEnum` is both: its members *are* the strings,
so ``failure_policy=FailurePolicy.CONTINUE`` and ``failure_policy="continue"``
are the same run option, recorded in the journal as the plain string.
"""

from __future__ import annotations

from enum import StrEnum


class FailurePolicy(StrEnum):
    """How a flow run reacts to a task that failed after its retries."""

    #: The first failure cancels everything pending; ``run`` raises a TaskExecutionError.
    FAIL_FAST = "fail_fast"
    #: Everything that can run runs; dependents of a failure are skipped.
    CONTINUE = "continue"
    #: Like CONTINUE, then one AggregateTaskError carrying every failure.
    AGGREGATE = "aggregate"


def checked_policy(flow_name: str, value: object) -> str:
    """``value`` as the plain policy string, or a ``ValueError`` naming the flow and choices."""
    try:
        return FailurePolicy(str(value) if isinstance(value, str) else "").value
    except ValueError:
        raise ValueError(
            f"flow {flow_name!r}: failure_policy={value!r}; use one of "
            + ", ".join(repr(p.value) for p in FailurePolicy)
            + " (or FailurePolicy.FAIL_FAST / CONTINUE / AGGREGATE)"
        ) from None


__all__ = ["FailurePolicy", "checked_policy"]
