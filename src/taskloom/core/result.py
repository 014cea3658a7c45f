"""What a finished run reports back: ``WorkflowResult`` and per-task outcomes.

Every style's run ends in the same record; Cloaca's style reads it through
``final_context``, whose type (Cloaca's ``Context``) the DAG style installs
with :func:`set_context_type`, so the core needs no style to build a result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from taskloom.journal.records import RunRecord, TaskRecord

_context_type: Callable[[dict[str, Any]], Any] = dict


def set_context_type(factory: Callable[[dict[str, Any]], Any]) -> None:
    """Make ``WorkflowResult.final_context`` build this type (the DAG style's Context)."""
    global _context_type
    _context_type = factory


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How one task of a run ended."""

    task_id: str
    status: str
    attempts: int
    error: str | None = None
    duration: float | None = None
    traceback: str | None = None

    @classmethod
    def from_record(cls, record: TaskRecord) -> TaskOutcome:
        return cls(
            task_id=record.task_key,
            status=record.status,
            attempts=record.attempt,
            error=record.error,
            duration=record.duration,
            traceback=record.traceback,
        )


@dataclass(frozen=True, slots=True)
class WorkflowResult:
    """The result of one run, in Cloaca's shape plus ``run_id`` and task outcomes.

    ``final_context`` is the merge of the completed sink tasks' outputs (or
    the input when none completed). For other run kinds ``output`` holds the
    decoded result value. ``start_time``/``end_time`` are RFC 3339 strings,
    as Cloaca returns them; ``started_at``/``ended_at`` are the same instants
    as timezone-aware ``datetime`` objects.
    """

    run_id: str
    workflow_name: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    error_message: str | None
    output: Any
    task_results: dict[str, TaskOutcome] = field(default_factory=dict)

    @property
    def final_context(self) -> Any:
        """The run's final context (a ``Context``): its output when that is a mapping."""
        data = self.output if isinstance(self.output, dict) else {}
        return _context_type(data)

    @property
    def start_time(self) -> str:
        """When the run started, as an RFC 3339 string (Cloaca's ``start_time``)."""
        return self.started_at.isoformat()

    @property
    def end_time(self) -> str | None:
        """When the run ended, as an RFC 3339 string; ``None`` while it runs."""
        return None if self.ended_at is None else self.ended_at.isoformat()

    @property
    def duration(self) -> float | None:
        """Seconds from start to end."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def is_success(self) -> bool:
        return self.status == "Completed"

    @classmethod
    def from_records(cls, run: RunRecord, tasks: list[TaskRecord]) -> WorkflowResult:
        text = run.final_json if run.final_json is not None else run.input_json
        return cls(
            run_id=run.run_id,
            workflow_name=run.workflow_name,
            status=run.status,
            started_at=to_datetime(run.created_at),
            ended_at=to_datetime(run.ended_at) if run.ended_at is not None else None,
            error_message=run.error,
            output=json.loads(text),
            task_results={t.task_key: TaskOutcome.from_record(t) for t in tasks},
        )

    def __repr__(self) -> str:
        """Cloaca's: ``WorkflowResult(status=Completed, error=None)``."""
        return f"WorkflowResult(status={self.status}, error={self.error_message})"


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
