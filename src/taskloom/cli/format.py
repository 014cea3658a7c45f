"""Plain-text tables and JSON documents for the CLI's output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskloom.core.result import WorkflowResult


def result_document(result: WorkflowResult) -> dict[str, Any]:
    """The machine-readable form of a run, shared by ``run --json`` and ``show --json``."""
    document: dict[str, Any] = {
        "run_id": result.run_id,
        "workflow": result.workflow_name,
        "status": result.status,
        "error_message": result.error_message,
        "start_time": result.start_time,
        "end_time": result.end_time,
        "duration": result.duration,
        "tasks": [
            {
                "task_id": outcome.task_id,
                "status": outcome.status,
                "attempts": outcome.attempts,
                "duration": outcome.duration,
                "error": outcome.error,
                "traceback": outcome.traceback,
            }
            for outcome in result.task_results.values()
        ],
        "final_context": result.final_context.to_dict(),
    }
    if not isinstance(result.output, dict):
        document["output"] = result.output  # runs whose result is a value, not a context
    return document


def tasks_table(result: WorkflowResult) -> str:
    rows = [
        [
            outcome.task_id,
            outcome.status,
            str(outcome.attempts),
            format_duration(outcome.duration),
            first_line(outcome.error),
        ]
        for outcome in result.task_results.values()
    ]
    return format_table(["TASK", "STATUS", "ATTEMPTS", "DURATION", "ERROR"], rows)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded.

    One helper for every table so that they all look alike. Cells must be
    single-line (callers pass the first line of multi-line errors).
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return "<1ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_time(epoch: float | None) -> str:
    """Local wall-clock time: what a person at the terminal compares against."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def iso(epoch: float | None) -> str | None:
    """UTC ISO 8601 with offset: unambiguous for programs reading ``--json``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def first_line(text: str | None) -> str:
    if not text:
        return ""
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return f"{first} ..." if len(lines) > 1 else first


def compact_json(text: str | None) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return first_line(text)


def indent(text: str, width: int) -> str:
    prefix = " " * width
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def indent_rest(text: str, width: int) -> str:
    """Indent every line but the first, which follows a label on the same line."""
    first, _, rest = text.partition("\n")
    return first if not rest else first + "\n" + indent(rest, width)


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))
