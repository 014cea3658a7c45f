"""``taskloom schedules``: list the schedules of a journal, add, pause, resume, delete one.

Listing shows each schedule's next fire time and its last run with that
run's status. ``add`` imports a ``TARGET`` (as ``taskloom run`` does) to
know the workflow's style: a Cloaca workflow (input: ``--context``), a
``@flow`` (its keyword arguments: ``--params``) or a step workflow type
(its input: ``--context``). A schedule is named by its id or its name.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from taskloom.cli.common import EXIT_OK, CliError, parse_context
from taskloom.cli.format import format_table, format_time, print_json
from taskloom.cli.inspect import _open_existing_journal
from taskloom.cli.targets import load_target

if TYPE_CHECKING:
    from taskloom.journal.schedules import ScheduleRecord, ScheduleStore


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Register ``taskloom schedules`` and its subcommands."""
    sub = subparsers.add_parser(
        "schedules",
        parents=[common],
        help="list schedules (next fire, last run); add, pause, resume or delete one",
        description="Without a subcommand: list the schedules, as 'schedules list'.",
    )
    sub.add_argument("--json", action="store_true", help="print the schedules as a JSON list")
    sub.set_defaults(handler=cmd_schedules, action="list")
    actions = sub.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="list the schedules")
    listing.add_argument("--json", action="store_true", help="print them as a JSON list")
    add = actions.add_parser("add", parents=[common], help="add a cron schedule of a workflow")
    add.add_argument(
        "target", metavar="TARGET", help="the workflow: path/file.py:NAME or module:NAME"
    )
    add.add_argument("--cron", required=True, metavar="EXPR", help="5 fields, or 6 with seconds")
    add.add_argument("--timezone", default="UTC", metavar="TZ", help="IANA name (default UTC)")
    add.add_argument("--name", default=None, help="a unique name to refer to the schedule by")
    add.add_argument("--context", default=None, metavar="JSON", help="each run's input context")
    add.add_argument("--params", default=None, metavar="JSON", help="a @flow's keyword arguments")
    for action, text in (
        ("pause", "pause a schedule (no fires until resumed)"),
        ("resume", "resume a schedule from its next due time"),
        ("delete", "delete a schedule (its runs keep their history)"),
    ):
        one = actions.add_parser(action, parents=[common], help=text)
        one.add_argument("schedule", metavar="ID_OR_NAME", help="the schedule's id or name")


def cmd_schedules(args: argparse.Namespace) -> int:
    from taskloom.journal.schedules import ScheduleStore

    action: str = args.action or "list"
    journal = _open_existing_journal(args.db) if action != "add" else _open(args.db)
    try:
        try:
            store = ScheduleStore(journal)
        except NotImplementedError as exc:
            raise CliError(f"--db: {exc}") from None
        if action == "list":
            return _list(store, bool(getattr(args, "json", False)))
        if action == "add":
            return _add(store, args)
        return _toggle(store, action, args.schedule)
    finally:
        journal.close()


def _open(url: str | None) -> Any:
    from taskloom.errors import TaskloomError
    from taskloom.journal.urls import open_journal

    try:
        return open_journal(url)
    except (ValueError, TaskloomError) as exc:
        raise CliError(f"--db: {exc}") from exc


def _list(store: ScheduleStore, as_json: bool) -> int:
    from taskloom.dag.cron_api import trigger_dict

    records = store.list_schedules()
    statuses = {r.schedule_id: _last_status(store, r) for r in records}
    if as_json:
        print_json(
            [dict(trigger_dict(r), last_run_status=statuses[r.schedule_id]) for r in records]
        )
        return EXIT_OK
    if not records:
        print(f"No schedules in {store.journal.url}")
        return EXIT_OK
    rows = [
        [
            r.schedule_id,
            r.name or "",
            f"{r.style}:{r.workflow_name}",
            r.cron_expression or f"every {(r.poll_interval_ms or 0) / 1000:g} s",
            "yes" if r.enabled else "paused",
            format_time(r.next_due_ms / 1000) if r.next_due_ms is not None and r.enabled else "",
            format_time(r.last_run_at),
            statuses[r.schedule_id] or "",
        ]
        for r in records
    ]
    headers = ["ID", "NAME", "WORKFLOW", "WHEN", "ENABLED", "NEXT FIRE", "LAST RUN", "STATUS"]
    print(format_table(headers, rows))
    return EXIT_OK


def _last_status(store: ScheduleStore, record: ScheduleRecord) -> str | None:
    if record.last_run_id is None:
        return None
    run = store.journal.get_run(record.last_run_id)
    return run.status if run is not None else None


def _find(store: ScheduleStore, key: str) -> ScheduleRecord:
    found = store.get(key) or store.get_by_name(key)
    if found is None:
        raise CliError(f"no schedule with id or name {key!r} in {store.journal.url}")
    return found


def _toggle(store: ScheduleStore, action: str, key: str) -> int:
    from taskloom.dag.cron_api import set_enabled

    record = _find(store, key)
    if action == "delete":
        store.delete(record.schedule_id)
    else:
        set_enabled(store, record, action == "resume", f"taskloom schedules {action}")
    print(
        f"{action}d schedule {record.schedule_id}"
        if action != "resume"
        else f"resumed schedule {record.schedule_id}"
    )
    return EXIT_OK


def _add(store: ScheduleStore, args: argparse.Namespace) -> int:
    from taskloom.cli.flow import find_flow
    from taskloom.core.registry import lookup_workflow
    from taskloom.core.schedule_records import new_cron_schedule
    from taskloom.steps.workflow import lookup_workflow as lookup_steps

    context = parse_context(args.context)
    params = parse_context(args.params, "--params")
    module, name = load_target(args.target)
    flow = find_flow(module, name)
    if flow is None and args.params is not None:
        raise CliError(f"--params is for @flow targets; {name!r} is not a @flow")
    if flow is not None:
        if args.context is not None:
            raise CliError(f"TARGET {args.target!r} is a @flow: give its arguments with --params")
        style, workflow, input_json = "flow", flow.name, json.dumps({"args": [], "kwargs": params})
    elif lookup_workflow(name) is not None:
        style, workflow, input_json = "dag", name, json.dumps(context)
    elif lookup_steps(name) is not None:
        style, workflow, input_json = "steps", name, json.dumps(context)
    else:
        raise CliError(
            f"TARGET {args.target!r}: {name!r} is not a workflow, @flow or step workflow type "
            f"defined in {module.__name__!r}"
        )
    try:
        record = new_cron_schedule(style, workflow, args.cron, args.timezone, input_json, args.name)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not store.create(record):
        raise CliError(f"--name {args.name!r}: a schedule with that name exists already")
    print(
        f"added schedule {record.schedule_id}: {style}:{workflow} at {args.cron!r} "
        f"({args.timezone}); next fire {format_time((record.next_due_ms or 0) / 1000)}"
    )
    return EXIT_OK
