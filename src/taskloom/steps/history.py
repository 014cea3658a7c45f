"""A step run's history in grctl's terms, read from the journal.

grctl streams history entries (``step.started``, ``task.completed``,
``event.received``, ...) from its server. taskloom already journals every
one of those moments as an event row next to the step and operation rows,
so the history is a translation of what is recorded -- the same in every
process, after any crash. Entries taskloom has and grctl has not keep
grctl's naming style (``run.resumed``, ``wait_event.timeout``,
``event.ignored``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from taskloom.errors import RunNotFoundError
from taskloom.journal.records import RunStatus, TaskRecord, TaskStatus
from taskloom.steps.journal import DRIVER_KEY

if TYPE_CHECKING:
    from taskloom.journal.base import Journal
    from taskloom.steps.workflow import Workflow

_OP = re.compile(r"^s(\d+)\.(\d+)#[0-9a-f]+:(.*)$", re.DOTALL)
_STEP = re.compile(r"^s(\d+):(.*)$", re.DOTALL)


class HistoryKind(StrEnum):
    """Kinds of history entries: grctl's, plus taskloom's own three."""

    run_started = "run.started"
    run_completed = "run.completed"
    run_failed = "run.failed"
    run_cancelled = "run.cancelled"
    run_resumed = "run.resumed"
    wait_event_started = "wait_event.started"
    wait_event_timeout = "wait_event.timeout"
    event_received = "event.received"
    event_ignored = "event.ignored"
    event_pending = "event.pending"
    step_started = "step.started"
    step_completed = "step.completed"
    step_failed = "step.failed"
    task_started = "task.started"
    task_completed = "task.completed"
    task_failed = "task.failed"
    task_attempt_failed = "task.attempt_failed"
    timestamp_recorded = "timestamp.recorded"
    random_recorded = "random.recorded"
    uuid_recorded = "uuid.recorded"
    sleep_recorded = "sleep.recorded"
    child_started = "child.started"
    parent_event_sent = "parent.event_sent"


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One entry: its kind, when, the run, the operation it concerns, and details."""

    kind: HistoryKind
    timestamp: datetime
    wf_id: str
    run_id: str
    operation_id: str = ""
    msg: dict[str, Any] = field(default_factory=dict)


_VALUES = {
    "__now__": HistoryKind.timestamp_recorded,
    "__random__": HistoryKind.random_recorded,
    "__uuid4__": HistoryKind.uuid_recorded,
}
_RUN_END = {
    RunStatus.COMPLETED: HistoryKind.run_completed,
    RunStatus.FAILED: HistoryKind.run_failed,
    RunStatus.CANCELLED: HistoryKind.run_cancelled,
}


def read_history(
    journal: Journal, workflow_id: str, workflow: Workflow | None = None
) -> list[HistoryEvent]:
    """Every history entry of run ``workflow_id``, oldest first.

    ``workflow`` (the definition, when this process has it) tells an event
    nobody handles (``event.ignored``) from one still waiting for a
    ``ctx.next.wait()`` (``event.pending``).
    """
    run = journal.get_run(workflow_id)
    if run is None:
        raise RunNotFoundError(f"no workflow with id {workflow_id!r}")
    tasks = {t.task_key: t for t in journal.get_tasks(workflow_id)}
    signals = {s.signal_id: s for s in journal.get_signals(workflow_id)}
    entries: list[tuple[float, HistoryEvent]] = []

    def add(at: float, kind: HistoryKind, op: str = "", **msg: Any) -> None:
        stamp = datetime.fromtimestamp(at, tz=UTC)
        entries.append((at, HistoryEvent(kind, stamp, workflow_id, workflow_id, op, msg)))

    add(run.created_at, HistoryKind.run_started, input=_loads(run.input_json))
    consumed: set[int] = set()
    step_names = {int(m.group(1)): m.group(2) for key in tasks if (m := _STEP.match(key))}
    for event in journal.get_events(workflow_id):
        key = event.task_key or ""
        data = _loads(event.data_json) or {}
        if key == DRIVER_KEY:
            continue
        if event.kind == "event_received":
            signal = signals.get(int(data.get("signal") or 0))
            consumed.add(int(data.get("signal") or 0))
            add(
                event.at,
                HistoryKind.event_received,
                key,
                event_name=data.get("event"),
                payload=_loads(signal.payload_json) if signal else None,
            )
        elif event.kind in ("step_started", "step_completed"):
            _step_entry(add, event.kind, event.at, key, data, tasks.get(key))
        elif event.kind.startswith("operation_") or event.kind in (
            "value_recorded",
            "sleep_completed",
            "child_started",
            "parent_event_sent",
        ):
            _operation_entry(add, event.kind, event.at, key, data, tasks.get(key), step_names)
        elif event.kind == "wait_timed_out":
            add(event.at, HistoryKind.wait_event_timeout, key)
        elif event.kind == "run_resumed":
            add(event.at, HistoryKind.run_resumed, **data)
        elif event.kind == "run_finished" and run.status in _RUN_END:
            result = _loads(run.final_json) if run.status == RunStatus.COMPLETED else None
            add(event.at, _RUN_END[run.status], result=result, error=run.error)
    for signal_id, signal in signals.items():
        if signal_id in consumed:
            continue
        handled = workflow is None or signal.name in workflow.events
        kind = HistoryKind.event_pending if handled else HistoryKind.event_ignored
        add(signal.sent_at, kind, event_name=signal.name, payload=_loads(signal.payload_json))
    entries.sort(key=lambda pair: pair[0])
    return [entry for _, entry in entries]


def _step_entry(
    add: Any, kind: str, at: float, key: str, data: dict[str, Any], record: TaskRecord | None
) -> None:
    match = _STEP.match(key)
    name = match.group(2) if match else data.get("step")
    if kind == "step_started":
        add(at, HistoryKind.step_started, key, step_name=name)
        return
    recorded = _loads(record.output_json) if record is not None else None
    if isinstance(recorded, dict) and recorded.get("uncaught"):
        error = (recorded.get("directive") or {}).get("error")
        add(at, HistoryKind.step_failed, key, step_name=name, error=error)
        return
    add(at, HistoryKind.step_completed, key, step_name=name, next=data.get("next"))
    if data.get("next") == "wait":
        add(at, HistoryKind.wait_event_started, key)


def _operation_entry(
    add: Any,
    kind: str,
    at: float,
    key: str,
    data: dict[str, Any],
    record: TaskRecord | None,
    step_names: dict[int, str],
) -> None:
    match = _OP.match(key)
    name = match.group(3) if match else key
    step = step_names.get(int(match.group(1))) if match else None
    if kind == "value_recorded" and name in _VALUES:
        value = _loads(record.output_json) if record is not None else None
        add(at, _VALUES[name], key, value=value)
    elif kind == "sleep_completed":
        add(at, HistoryKind.sleep_recorded, key)
    elif kind == "child_started":
        add(at, HistoryKind.child_started, key, wf_id=data.get("child"), run_id=data.get("child"))
    elif kind == "parent_event_sent":
        add(
            at,
            HistoryKind.parent_event_sent,
            key,
            event_name=data.get("event"),
            parent_wf_id=data.get("parent"),
        )
    elif kind == "operation_started":
        add(
            at,
            HistoryKind.task_started,
            key,
            task_id=key,
            task_name=name,
            step_name=step,
            attempt=data.get("attempt"),
        )
    elif kind == "operation_completed":
        done = record is not None and record.status == TaskStatus.COMPLETED
        output = {"result": _loads(record.output_json)} if done and record else {}
        add(
            at,
            HistoryKind.task_completed,
            key,
            task_id=key,
            task_name=name,
            step_name=step,
            attempt=data.get("attempt"),
            output=output,
        )
    elif kind == "operation_retry":
        add(
            at,
            HistoryKind.task_attempt_failed,
            key,
            task_id=key,
            task_name=name,
            step_name=step,
            attempt=data.get("attempt"),
            next_retry_delay_ms=int(1000 * (data.get("delay") or 0)),
        )
    elif kind == "operation_failed":
        add(
            at,
            HistoryKind.task_failed,
            key,
            task_id=key,
            task_name=name,
            step_name=step,
            attempt=data.get("attempt"),
            error=record.error if record else None,
        )


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
