"""Plain records that travel between the engine and a journal backend.

They are deliberately dumb (no behaviour, no database types) so that every
backend -- memory, SQLite, PostgreSQL -- reads and writes the same shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class RunStatus:
    """Status strings of a run, as Cloaca spells them."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})


class TaskStatus:
    """Status strings of one task (node or operation) within a run."""

    PENDING = "Pending"
    RUNNING = "Running"
    RETRYING = "Retrying"
    COMPLETED = "Completed"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    CANCELLED = "Cancelled"
    #: Waiting without a slot (a durable sleep or an event wait); ``next_retry_at``
    #: holds the wake-up time, if any. The engine re-runs the node to wake it.
    SUSPENDED = "Suspended"

    TERMINAL = frozenset({COMPLETED, FAILED, SKIPPED, CANCELLED})


@dataclass(slots=True)
class RunRecord:
    """One workflow run as the journal holds it."""

    run_id: str
    workflow_name: str
    workflow_version: str
    kind: str
    status: str
    input_json: str
    created_at: float
    final_json: str | None = None
    error: str | None = None
    owner_id: str | None = None
    ended_at: float | None = None


@dataclass(slots=True)
class TaskRecord:
    """The latest state of one task of a run.

    ``attempt`` counts attempts started so far; ``next_retry_at`` is the wall
    clock time a waiting retry is due, which is what makes retry timers durable.
    ``deaths`` is read from the journal, never written by an upsert: the
    journal keeps it while the row is Running/Pending and resets it otherwise.
    """

    run_id: str
    task_key: str
    status: str
    attempt: int = 0
    next_retry_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    output_json: str | None = None
    error: str | None = None
    traceback: str | None = None
    seq: int = 0
    #: Processes that died while running the current attempt (counted by the
    #: next owner, see :mod:`taskloom.core.deaths`); 0 once the attempt ends.
    deaths: int = 0

    @property
    def duration(self) -> float | None:
        """Seconds between the last attempt's start and the task's end."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)


@dataclass(slots=True)
class EventRecord:
    """One entry of the append-only event log."""

    run_id: str
    kind: str
    at: float
    task_key: str | None = None
    data_json: str | None = None
    event_id: int | None = None


@dataclass(slots=True)
class SignalRecord:
    """A named message sent to a run, kept in its inbox until the run consumes it.

    ``signal_id`` grows in commit order across the database, so a run can
    consume its inbox with a cursor ("everything after id N").
    """

    signal_id: int
    run_id: str
    name: str
    payload_json: str
    sent_at: float


@dataclass(slots=True)
class RunUpdate:
    """A change of a run's status (and, at its end, its final output)."""

    run_id: str
    status: str
    final_json: str | None = None
    error: str | None = None
    ended_at: float | None = None
    #: The task whose recorded output *is* ``final_json``: a backend may store
    #: a reference instead of a second copy (SQLite does).
    final_task: str | None = None


@dataclass(slots=True)
class RunnerRecord:
    """A live engine process that owns runs; used to find orphaned runs."""

    runner_id: str
    hostname: str
    pid: int
    started_at: float
    heartbeat_at: float


@dataclass(slots=True)
class Batch:
    """Writes that must become durable together, in one transaction.

    The scheduler gathers everything that happened in one turn of its event
    loop into a batch, so several tasks finishing together cost one commit.
    """

    tasks: list[TaskRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    runs: list[RunUpdate] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.tasks or self.events or self.runs)


@dataclass(slots=True)
class Reopening:
    """A run put back to work: retried after it ended, or adopted by a new version.

    The run must still have status ``from_status`` (and, if ``check_owner``,
    owner ``from_owner``); it becomes Running, owned by ``new_owner`` (None:
    the next runner that serves it resumes it), at ``version``. Its task
    rows are replaced by ``tasks`` (the whole set, in their ``seq`` order)
    and ``events`` are appended, in one transaction.
    """

    run_id: str
    from_status: str
    version: str
    tasks: list[TaskRecord]
    events: list[EventRecord]
    new_owner: str | None = None
    check_owner: bool = False
    from_owner: str | None = None
