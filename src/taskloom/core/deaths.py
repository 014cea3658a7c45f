"""Poison tasks: a task whose process dies is not run again for ever.

A task that kills the process running it (``os._exit``, a segfault in a C
extension, the OOM killer) would be resumed by the next runner, kill it too,
and so on. So the deaths that strike a task's attempt are counted in the
journal (``task_runs.deaths``) by whoever takes the attempt over:

* a runner resuming an orphaned run, for the tasks the dead owner had
  recorded Running, in the transaction that takes the run over
  (``Journal.claim_run``);
* a PostgreSQL worker claiming a task whose lease expired (its worker died
  or froze), in the claim.

At ``max_process_deaths`` the attempt fails with :class:`ProcessDiedError`
instead of running, and the task's retry policy decides what follows.

The hot path pays nothing for it: a task's start is still recorded lazily
(riding along with the next commit). A runner that resumes a run records
the starts of the run's ready tasks *before* their bodies run, so that a
task that kills its resumer is seen Running -- and counted -- by the next
one. A process that dies within milliseconds of starting a task in a run
it did not resume may go uncounted once, so a poison task takes at most
``max_process_deaths + 1`` processes with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskloom.errors import ProcessDiedError
from taskloom.journal.records import TaskRecord, TaskStatus

if TYPE_CHECKING:
    from taskloom.core.attempt import Attempt

#: ``RunExecution._write``: (record, kind, data, then, lazy).
Writer = Callable[[TaskRecord, str, str, "Callable[[], None] | None", bool], None]

#: Environment variable with the default limit of every runner, worker and shared engine.
ENV_VAR = "TASKLOOM_MAX_PROCESS_DEATHS"
DEFAULT_MAX_PROCESS_DEATHS = 3


def death_limit(value: int | None = None) -> int | None:
    """The limit in force: ``value``, else ``$TASKLOOM_MAX_PROCESS_DEATHS``, else 3.

    0 turns the limit off (returns None).
    """
    source = "max_process_deaths"
    if value is None:
        raw = os.environ.get(ENV_VAR, "").strip()
        if not raw:
            return DEFAULT_MAX_PROCESS_DEATHS
        source = f"${ENV_VAR}"
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(
                f"{source}={raw!r}: give a whole number of process deaths (0 turns the limit off)"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{source}={value!r}: give an int >= 1 (the deaths of its process a task's "
            "attempt survives), or 0 for no limit"
        )
    return value or None


def reached(deaths: int, limit: int | None) -> bool:
    """Has an attempt whose processes died ``deaths`` times reached the limit?"""
    return limit is not None and deaths >= limit


def died(label: str, deaths: int) -> ProcessDiedError:
    """The failure of an attempt whose processes died ``deaths`` times."""
    return ProcessDiedError(
        f"task {label!r}: the process running it died {deaths} times (os._exit, a crash, a "
        f"signal or the OOM killer); its attempt fails instead of running again. Raise "
        f"max_process_deaths (or ${ENV_VAR}) if its process is restarted that often for "
        "other reasons"
    )


class ResumedAttempts:
    """What a run resumed after its owner died knows of the attempts that were in flight."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        #: Nodes whose processes died too often: their attempt fails, unstarted.
        self.died: dict[str, int] = {}
        #: The ready nodes at the resumption: their starts are committed before their
        #: bodies run, so a task that kills this process too is counted by the next one.
        self.frontier: set[str] = set()

    def interrupted(self, record: TaskRecord) -> str:
        """``record``'s attempt was cut short: it does not count -- unless its processes
        died too often (then it fails when it would start again). The event's data."""
        record.status = TaskStatus.PENDING
        record.attempt = max(0, record.attempt - 1)
        if reached(record.deaths, self.limit):
            self.died[record.task_key] = record.deaths
        return f'{{"deaths":{record.deaths}}}'

    def start(self, record: TaskRecord, attempt: Attempt, write: Writer, scope: Any = None) -> None:
        """Record ``attempt``'s start and start it: for the frontier, once it is durable.

        ``scope``: the run and attempt the body sees (``Attempt.start``)."""
        started = f'{{"attempt":{record.attempt}}}'
        if record.task_key not in self.frontier:
            write(record, "task_started", started, None, True)
            attempt.start(scope)
            return
        self.frontier.discard(record.task_key)

        def start_if_wanted() -> None:
            if not attempt.done:  # the run may have been cancelled meanwhile
                attempt.start(scope)

        write(record, "task_started", started, start_if_wanted, False)
