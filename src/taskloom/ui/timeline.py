"""A run's timeline: when each attempt ran, and the waits between attempts.

Built from the run's event log alone (every style writes one), so it shows
retries and their backoff waits, deferrals (a suspended step, a durable
sleep) and interrupted attempts the same way for DAG, flow and step runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskloom.journal.records import EventRecord

#: Events that start an attempt of a task (or a step, or an operation).
STARTS = frozenset({"task_started", "step_started", "operation_started"})
#: Events that end the attempt in flight, with what it became.
ENDS = {
    "task_succeeded": "succeeded",
    "task_failed": "failed",
    "task_retry": "failed, retrying",
    "task_skipped": "skipped",
    "task_cancelled": "cancelled",
    "task_released": "released",
    "attempt_interrupted": "interrupted",
    "task_suspended": "suspended",
    "step_completed": "succeeded",
    "operation_completed": "succeeded",
    "operation_failed": "failed",
    "operation_retry": "failed, retrying",
}
#: Events after which the task waits, and what for.
WAITS = {
    "task_retry": "retry wait",
    "operation_retry": "retry wait",
    "task_suspended": "deferred",
    "sleep_started": "sleep",
}
#: Events that end a wait without starting an attempt.
WAKES = frozenset({"sleep_completed", "event_received", "wait_timed_out"})


@dataclass(slots=True)
class Bar:
    task: str
    kind: str  # "attempt" or the wait's name
    start: float
    end: float | None
    outcome: str = ""


def bars(events: list[EventRecord], limit_tasks: int = 300) -> tuple[list[Bar], int]:
    """The bars of the first ``limit_tasks`` tasks to start, and how many tasks there were."""
    out: list[Bar] = []
    open_attempt: dict[str, Bar] = {}
    open_wait: dict[str, Bar] = {}
    seen: dict[str, None] = {}
    for event in events:
        key = event.task_key
        if key is None:
            continue
        if key not in seen:
            seen[key] = None
        if len(seen) > limit_tasks and key not in open_attempt and key not in open_wait:
            continue
        if event.kind in STARTS or event.kind in WAKES:
            wait = open_wait.pop(key, None)
            if wait is not None:
                wait.end = event.at
        if event.kind in STARTS:
            bar = Bar(key, "attempt", event.at, None)
            open_attempt[key] = bar
            out.append(bar)
        elif event.kind in ENDS:
            bar_or_none = open_attempt.pop(key, None)
            if bar_or_none is not None:
                bar_or_none.end = event.at
                bar_or_none.outcome = ENDS[event.kind]
        if event.kind in WAITS:
            wait = Bar(key, WAITS[event.kind], event.at, None)
            open_wait[key] = wait
            out.append(wait)
    return out, len(seen)


def layout(events: list[EventRecord], now: float, limit_tasks: int = 300) -> dict[str, Any]:
    """Rows of bars placed in percent of the run's span (for the page and the API)."""
    found, total = bars(events, limit_tasks)
    if not events:
        return {"rows": [], "tasks": 0, "shown": 0, "start": None, "span": 0.0}
    start = events[0].at
    end = max([events[-1].at, *[b.end or now for b in found]])
    span = max(end - start, 1e-6)
    rows: dict[str, list[dict[str, Any]]] = {}
    for bar in found:
        stop = bar.end if bar.end is not None else now
        rows.setdefault(bar.task, []).append(
            {
                "kind": bar.kind,
                "outcome": bar.outcome,
                "start": bar.start - start,
                "duration": max(0.0, stop - bar.start),
                "ongoing": bar.end is None,
                "left": round(100 * (bar.start - start) / span, 3),
                "width": round(max(0.3, 100 * (stop - bar.start) / span), 3),
            }
        )
    return {
        "rows": [{"task": task, "bars": bs} for task, bs in rows.items()],
        "tasks": total,
        "shown": len(rows),
        "start": start,
        "span": span,
    }
