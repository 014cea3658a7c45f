"""Layer 4, the journal: the durable record of runs, tasks and events."""

from taskloom.journal.base import Journal
from taskloom.journal.memory import MemoryJournal
from taskloom.journal.records import (
    Batch,
    EventRecord,
    RunnerRecord,
    RunRecord,
    RunStatus,
    RunUpdate,
    TaskRecord,
    TaskStatus,
)
from taskloom.journal.urls import open_journal, resolve_url

__all__ = [
    "Batch",
    "EventRecord",
    "Journal",
    "MemoryJournal",
    "RunRecord",
    "RunStatus",
    "RunUpdate",
    "RunnerRecord",
    "TaskRecord",
    "TaskStatus",
    "open_journal",
    "resolve_url",
]
