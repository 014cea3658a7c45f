"""Journal records as the dashboard shows them: masked, truncated, JSON-ready.

Pages and the JSON API show the same documents, built here once, so a
secret is masked and a large value truncated the same way in both.
Masking is by key name: context and input values whose keys look like
secrets (``password``, ``token``, ``secret``, ``api_key``,
``configurable``, ...) are replaced by ``"***"`` wherever they nest.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from taskloom.journal.records import EventRecord, RunRecord, SignalRecord, TaskRecord

#: Key names whose values are never shown.
SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|token|secret|api[_-]?key|configurable|credential|private[_-]?key"
    r"|auth",
    re.IGNORECASE,
)
MASK = "***"
#: Characters of a value shown before "show all".
TRUNCATE_AT = 2000


def mask(value: Any) -> Any:
    """``value`` with every secret-looking key's value replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and SECRET_KEY.search(k) else mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def masked_json(text: str | None) -> Any:
    """Decode recorded JSON and mask it; text that is not JSON is returned as it is."""
    if text is None:
        return None
    try:
        return mask(json.loads(text))
    except ValueError:
        return text


def pretty(value: Any) -> str:
    """A value as indented JSON text (for a <pre>)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=False, default=str, ensure_ascii=False)


def clip(text: str | None, limit: int = TRUNCATE_AT) -> tuple[str | None, bool]:
    """``(text cut to limit, whether it was cut)``."""
    if text is None or len(text) <= limit:
        return text, False
    return text[:limit], True


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def short_time(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, end - start)


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


STYLE_NAMES = {"dag": "DAG", "flow": "flow", "steps": "steps"}


def run_summary(run: RunRecord) -> dict[str, Any]:
    """A run as a row of the runs list (and of ``GET /api/runs``)."""
    return {
        "run_id": run.run_id,
        "workflow": run.workflow_name,
        "version": run.workflow_version,
        "style": run.kind,
        "status": run.status,
        "created_at": iso(run.created_at),
        "ended_at": iso(run.ended_at),
        "duration": duration(run.created_at, run.ended_at),
        "error": run.error,
    }


def run_document(run: RunRecord) -> dict[str, Any]:
    """A run with its (masked) input and result."""
    doc = run_summary(run)
    doc["input"] = masked_json(run.input_json)
    doc["result"] = masked_json(run.final_json)
    doc["owner"] = run.owner_id
    return doc


def task_summary(task: TaskRecord) -> dict[str, Any]:
    return {
        "task": task.task_key,
        "status": task.status,
        "attempts": task.attempt,
        "started_at": iso(task.started_at),
        "ended_at": iso(task.ended_at),
        "duration": task.duration,
        "next_retry_at": iso(task.next_retry_at),
        "error": task.error,
    }


def task_document(task: TaskRecord, full: bool = False) -> dict[str, Any]:
    """One task with its error, traceback and (masked, maybe truncated) output."""
    doc = task_summary(task)
    output = masked_json(task.output_json)
    text = None if output is None else pretty(output)
    shown, cut = (text, False) if full else clip(text)
    doc["output"] = shown
    doc["output_truncated"] = cut
    doc["output_size"] = len(text) if text is not None else 0
    doc["traceback"] = task.traceback
    return doc


def event_document(event: EventRecord) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "at": iso(event.at),
        "task": event.task_key,
        "data": masked_json(event.data_json) if event.kind != "run_started" else None,
    }


def signal_document(signal: SignalRecord) -> dict[str, Any]:
    return {
        "signal_id": signal.signal_id,
        "name": signal.name,
        "payload": masked_json(signal.payload_json),
        "sent_at": iso(signal.sent_at),
    }
