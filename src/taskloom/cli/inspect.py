"""``taskloom runs`` and ``taskloom show``: read the journal, never create one."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskloom.core.result import WorkflowResult
    from taskloom.journal.base import Journal
    from taskloom.journal.records import EventRecord, RunRecord
from taskloom.cli.common import EXIT_OK, CliError
from taskloom.cli.format import (
    compact_json,
    first_line,
    format_duration,
    format_table,
    format_time,
    indent,
    indent_rest,
    iso,
    print_json,
    result_document,
    tasks_table,
)
from taskloom.journal.urls import redact_url


def cmd_runs(args: argparse.Namespace) -> int:
    """``taskloom runs``: the most recent runs, optionally of one status."""
    if getattr(args, "orphaned", False):
        from taskloom.cli.control import cmd_orphaned

        return cmd_orphaned(args)
    limit: int = args.limit
    status: str | None = args.status
    journal = _open_existing_journal(args.db)
    try:
        runs = journal.list_runs(limit=limit, status=status)
        origins = _origins(journal, runs)
    finally:
        journal.close()
    if args.json:
        print_json([_run_summary(run) | {"started_by": origins.get(run.run_id)} for run in runs])
        return EXIT_OK
    if not runs:
        suffix = f" with status {status}" if status else ""
        print(f"No runs{suffix} in {redact_url(journal.url)}")
        return EXIT_OK
    rows = [
        [
            run.run_id,
            run.workflow_name,
            run.status,
            format_time(run.created_at),
            format_duration(_run_duration(run)),
            first_line(run.error),
        ]
        for run in runs
    ]
    headers = ["RUN ID", "WORKFLOW", "STATUS", "CREATED", "DURATION", "ERROR"]
    if origins:  # a column only when a schedule or trigger started one of the runs
        headers.insert(3, "STARTED BY")
        for row, run in zip(rows, runs, strict=True):
            row.insert(3, origins.get(run.run_id) or "")
    print(format_table(headers, rows))
    return EXIT_OK


def _origins(journal: Journal, runs: Sequence[RunRecord]) -> dict[str, str]:
    """``run_id -> "cron <schedule>"`` / ``"trigger <name>"`` for the runs a schedule started."""
    from taskloom.journal.schedules import ScheduleStore

    try:
        store = ScheduleStore(journal)
    except NotImplementedError:
        return {}
    found = store.origins([run.run_id for run in runs])
    return {
        run_id: f"{kind} {name or schedule_id[:8]}"
        for run_id, (schedule_id, kind, name) in found.items()
    }


def _run_summary(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "workflow": run.workflow_name,
        "workflow_version": run.workflow_version,
        "status": run.status,
        "created_at": iso(run.created_at),
        "ended_at": iso(run.ended_at),
        "duration": _run_duration(run),
        "error_message": run.error,
    }


def _run_duration(run: RunRecord) -> float | None:
    if run.ended_at is None:
        return None
    return max(0.0, run.ended_at - run.created_at)


def cmd_show(args: argparse.Namespace) -> int:
    """``taskloom show``: one run's header, tasks (with tracebacks) and optionally events."""
    from taskloom.core.result import WorkflowResult

    run_id: str = args.run_id.strip()
    journal = _open_existing_journal(args.db)
    try:
        run = journal.get_run(run_id)
        if run is None:
            raise CliError(
                f"RUN_ID {run_id!r}: no such run in {redact_url(journal.url)}; "
                "list run ids with 'taskloom runs'"
            )
        tasks = journal.get_tasks(run_id)
        events = journal.get_events(run_id) if args.events else []
    finally:
        journal.close()
    result = WorkflowResult.from_records(run, tasks)
    if args.json:
        document = result_document(result)
        document["workflow_version"] = run.workflow_version
        document["input_context"] = json.loads(run.input_json)
        if args.events:
            document["events"] = [_event_document(event) for event in events]
        print_json(document)
        return EXIT_OK
    _print_run_details(run, result)
    if args.events:
        print()
        print("Events:")
        print(indent(_events_table(run, events), 2))
    return EXIT_OK


def _print_run_details(run: RunRecord, result: WorkflowResult) -> None:
    print(f"Run {run.run_id}")
    print(f"  workflow: {run.workflow_name} (version {run.workflow_version})")
    print(f"  status:   {run.status}")
    print(f"  created:  {format_time(run.created_at)}")
    ended = format_time(run.ended_at) if run.ended_at is not None else "-"
    print(f"  ended:    {ended}")
    print(f"  duration: {format_duration(_run_duration(run))}")
    if run.error:
        print(f"  error:    {indent_rest(run.error, 12)}")
    print()
    print(tasks_table(result))
    for outcome in result.task_results.values():
        if outcome.traceback and outcome.status == "Failed":
            print()
            print(f"Traceback of task {outcome.task_id} (attempt {outcome.attempts}):")
            print(indent(outcome.traceback.rstrip("\n"), 4))


def _events_table(run: RunRecord, events: Sequence[EventRecord]) -> str:
    rows = [
        [
            f"+{max(0.0, event.at - run.created_at):.3f}s",
            event.kind,
            event.task_key or "-",
            compact_json(event.data_json),
        ]
        for event in events
    ]
    return format_table(["AT", "EVENT", "TASK", "DATA"], rows)


def _event_document(event: EventRecord) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "at": iso(event.at),
        "task_id": event.task_key,
        "data": json.loads(event.data_json) if event.data_json else None,
    }


def _open_existing_journal(url: str | None) -> Journal:
    """Open the journal for reading; refuse to create a new SQLite file.

    ``runs`` and ``show`` only read. Opening a mistyped path would otherwise
    create an empty database there and report "no runs", hiding the typo.
    """
    from taskloom.errors import TaskloomError
    from taskloom.journal.urls import open_journal, resolve_url

    resolved = resolve_url(url)
    scheme, sep, rest = resolved.partition("://")
    if sep and scheme.lower() == "sqlite":
        path = rest.partition("?")[0]
        if path and path != ":memory:" and not os.path.exists(path):
            origin = "--db" if url is not None else "the default database"
            shown = redact_url(resolved)
            raise CliError(f"{origin}: no journal database at {path!r} (url {shown!r})")
    try:
        return open_journal(resolved)
    except (ValueError, TaskloomError) as exc:
        raise CliError(f"--db: {exc}") from exc
