"""``RunInfo``: what grctl code reads about a run (``handle.run_info``, ``ctx.run``).

grctl describes a run with a small record -- ids, type, status, parent,
times -- and code written for it reads ``handle.run_info.id`` or
``ctx.run.wf_id``. taskloom keeps one run per workflow id, so ``id`` (grctl's
run id) and ``wf_id`` are the same string; the record is built from the
journal's run row, so it is the same in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from taskloom.journal.records import RunStatus as JournalStatus

if TYPE_CHECKING:
    from taskloom.journal.records import RunRecord


class RunStatus(StrEnum):
    """grctl's run states (taskloom records Running / Completed / Failed / Cancelled)."""

    pending = "pending"
    scheduled = "scheduled"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    timed_out = "timed_out"


_FROM_JOURNAL = {
    JournalStatus.RUNNING: RunStatus.running,
    JournalStatus.COMPLETED: RunStatus.completed,
    JournalStatus.FAILED: RunStatus.failed,
    JournalStatus.CANCELLED: RunStatus.cancelled,
}


def _time(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, tz=UTC)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One workflow run, in grctl's terms (``id`` equals ``wf_id`` in taskloom)."""

    id: str
    wf_id: str
    wf_type: str
    status: RunStatus = RunStatus.running
    parent_wf_id: str | None = None
    parent_wf_type: str | None = None
    parent_run_id: str | None = None
    #: The timeout given when the run was started, in seconds (not enforced: see docs).
    timeout: int | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None

    @classmethod
    def from_record(
        cls, run: RunRecord, parent: str | None = None, parent_type: str | None = None
    ) -> RunInfo:
        return cls(
            id=run.run_id,
            wf_id=run.run_id,
            wf_type=run.workflow_name,
            status=_FROM_JOURNAL.get(run.status, RunStatus.running),
            parent_wf_id=parent,
            parent_wf_type=parent_type,
            parent_run_id=parent,
            created_at=_time(run.created_at),
            completed_at=_time(run.ended_at),
        )


class ChildHandle(str):
    """What ``ctx.start_child`` returns: the child's workflow id, with grctl's ``run_info``.

    It *is* the id (a ``str``: it can be stored, compared, put in a result),
    and it carries ``run_info`` and ``workflow_id`` for code written for
    grctl's handle (``handle.run_info.id``).
    """

    run_info: RunInfo

    def __new__(cls, run_info: RunInfo) -> ChildHandle:
        handle = super().__new__(cls, run_info.wf_id)
        handle.run_info = run_info
        return handle

    @property
    def workflow_id(self) -> str:
        return str(self)

    def __reduce__(self) -> Any:
        return (str, (str(self),))
