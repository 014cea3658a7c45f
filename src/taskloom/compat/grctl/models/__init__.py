"""Twin of ``grctl.models``: directives, errors details, run information, history."""

from __future__ import annotations

from taskloom import RetryPolicy
from taskloom.steps import (
    Directive,
    ErrorDetails,
    HistoryEvent,
    HistoryKind,
    RunInfo,
    RunStatus,
)

__all__ = [
    "Directive",
    "ErrorDetails",
    "HistoryEvent",
    "HistoryKind",
    "RetryPolicy",
    "RunInfo",
    "RunStatus",
]
