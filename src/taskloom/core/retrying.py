"""What a retry of an ended run changes: which task rows start again.

``retry_run`` gives a failed (or cancelled) run a new attempt: completed
tasks keep their recorded outputs, every other task starts again from
Pending with a fresh retry budget (its policy applies in full), and the
run becomes Running with no owner, so whichever runner or worker serves
its workflow version resumes it -- exactly as after a crash. The attempts
before the retry stay in the event log, and each restarted task gets a
``task_reset`` event naming its previous status, attempt count and error.

A style whose runs keep more than task rows (the step style journals
steps and operations in rows of its own) registers its own rule.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable

from taskloom.core import styles
from taskloom.journal.base import Journal
from taskloom.journal.records import EventRecord, RunRecord, TaskRecord, TaskStatus

#: ``rows of an ended run -> the rows it restarts from`` (every row, in order).
RetryRows = Callable[[list[TaskRecord]], list[TaskRecord]]

_rules: dict[str, RetryRows] = {}


def register_retry_rows(kind: str, rule: RetryRows) -> None:
    """How a retry restarts runs of ``kind`` (default: :func:`restart_unfinished`)."""
    _rules[kind] = rule


def restart(record: TaskRecord) -> TaskRecord:
    """``record`` as a task that has not run yet (same key and row position)."""
    return dataclasses.replace(
        record,
        status=TaskStatus.PENDING,
        attempt=0,
        next_retry_at=None,
        started_at=None,
        ended_at=None,
        output_json=None,
        error=None,
        traceback=None,
    )


def restart_unfinished(records: list[TaskRecord]) -> list[TaskRecord]:
    """Every task that did not complete starts again; completed ones are kept."""
    return [r if r.status == TaskStatus.COMPLETED else restart(r) for r in records]


def retry_rows(kind: str, records: list[TaskRecord]) -> list[TaskRecord]:
    """The rows a retry of a ``kind`` run restarts from."""
    styles.load_styles()
    rule = _rules.get(kind, restart_unfinished)
    return rule(sorted(records, key=lambda r: r.seq))


def time_limit_since_retry(journal: Journal, run: RunRecord, limit: float | None) -> float | None:
    """A run's workflow time limit, moved so it counts from its latest retry.

    The scheduler counts a run's time limit from its creation; a retried run
    gets the whole limit again, from the moment it was retried.
    """
    if limit is None:
        return None
    retried = [e.at for e in journal.get_events(run.run_id) if e.kind == "run_retried"]
    return limit + max(0.0, max(retried) - run.created_at) if retried else limit


def retry_events(
    run_id: str, status: str, error: str | None, before: list[TaskRecord], after: list[TaskRecord]
) -> list[EventRecord]:
    """``run_retried`` plus one ``task_reset`` per row the retry changed."""
    now = time.time()
    old = {r.task_key: r for r in before}
    events = [
        EventRecord(
            run_id,
            "run_retried",
            now,
            None,
            json.dumps({"previous_status": status, "error": error}),
        )
    ]
    for row in after:
        was = old.get(row.task_key)
        if was is None or (was.status == row.status and was.attempt == row.attempt):
            continue
        data = {"previous_status": was.status, "attempts": was.attempt, "error": was.error}
        events.append(EventRecord(run_id, "task_reset", now, row.task_key, json.dumps(data)))
    return events
