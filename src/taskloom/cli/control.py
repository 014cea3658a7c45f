"""``taskloom retry``, ``cancel``, ``adopt`` and ``runs --orphaned``: act on recorded runs.

Each command is the Python call of the same name
(:mod:`taskloom.core.run_control`), so the journal records the same
events whether a run was retried from a script, a dashboard or here.
Unknown run ids and runs in the wrong state are usage errors (exit 2)
with the reason; database URLs are printed without their password.
"""

from __future__ import annotations

import argparse
from typing import Any

from taskloom.cli.common import EXIT_OK, EXIT_RUN_FAILED, CliError
from taskloom.cli.format import format_table, format_time, print_json
from taskloom.cli.targets import import_workflows


def _failing(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``; the errors a user can provoke become CLI errors."""
    from taskloom.errors import TaskloomError

    try:
        return call(*args, **kwargs)
    except (TaskloomError, ValueError) as exc:
        raise CliError(str(exc)) from exc


def cmd_retry(args: argparse.Namespace) -> int:
    """``taskloom retry RUN_ID``: a new attempt of a failed or cancelled run."""
    from taskloom.core.run_control import masked, retry_run
    from taskloom.journal.urls import resolve_url

    run_id: str = args.run_id.strip()
    _failing(retry_run, run_id, database_url=args.db)
    print(
        f"run {run_id} is Running again in {masked(resolve_url(args.db))}: a runner or worker "
        "that has its workflow version resumes it (completed tasks are not run again)"
    )
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    """``taskloom cancel RUN_ID``: cancel a run, whoever executes it."""
    from taskloom.core.run_control import cancel_run

    run_id: str = args.run_id.strip()
    done = _failing(cancel_run, run_id, database_url=args.db, reason=args.reason, wait=args.wait)
    status = _status(args.db, run_id)
    if done and status == "Running":
        print(
            f"cancel of run {run_id} requested: the process that executes it carries it out "
            "at its next check (about a second)"
        )
        return EXIT_OK
    if done:
        print(f"run {run_id} cancelled")
        return EXIT_OK
    print(f"run {run_id} had already ended ({status}): not cancelled")
    return EXIT_RUN_FAILED


def _status(db: str | None, run_id: str) -> str:
    from taskloom.journal.urls import open_journal

    journal = open_journal(db)
    try:
        run = journal.get_run(run_id)
    finally:
        journal.close()
    return run.status if run is not None else "gone"


def cmd_adopt(args: argparse.Namespace) -> int:
    """``taskloom adopt RUN_ID --import MODULE``: continue an orphan on the current code."""
    from taskloom.core.run_control import adopt_run

    for spec in args.imports:
        import_workflows(spec)
    run_id: str = args.run_id.strip()
    _failing(adopt_run, run_id, database_url=args.db)
    print(
        f"run {run_id} adopted onto the current version: a runner or worker that has it "
        "resumes the run (completed tasks are not run again)"
    )
    return EXIT_OK


def cmd_orphaned(args: argparse.Namespace) -> int:
    """``taskloom runs --orphaned``: running runs that nothing executes."""
    from taskloom.core.run_control import masked, orphaned_runs
    from taskloom.journal.urls import resolve_url

    found = _failing(orphaned_runs, args.db, lease=args.lease)
    if args.json:
        print_json(
            [
                {
                    "run_id": o.run.run_id,
                    "workflow": o.run.workflow_name,
                    "kind": o.run.kind,
                    "workflow_version": o.run.workflow_version,
                    "owner": o.run.owner_id,
                    "reason": o.reason,
                }
                for o in found
            ]
        )
        return EXIT_OK
    if not found:
        print(f"No orphaned runs in {masked(resolve_url(args.db))}")
        return EXIT_OK
    rows = [
        [
            o.run.run_id,
            o.run.workflow_name,
            o.run.kind,
            o.run.workflow_version,
            format_time(o.run.created_at),
            o.reason,
        ]
        for o in found
    ]
    print(format_table(["RUN ID", "WORKFLOW", "KIND", "VERSION", "CREATED", "WHY"], rows))
    return EXIT_OK


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """The ``retry``, ``cancel`` and ``adopt`` subcommands."""
    sub = subparsers.add_parser(
        "retry",
        parents=[common],
        help="start a new attempt of a failed or cancelled run (completed tasks are reused)",
    )
    sub.add_argument("run_id", metavar="RUN_ID", help="the run's id (as printed by runs)")
    sub.set_defaults(handler=cmd_retry)
    sub = subparsers.add_parser(
        "cancel", parents=[common], help="cancel a run, whichever process executes it"
    )
    sub.add_argument("run_id", metavar="RUN_ID", help="the run's id (as printed by runs)")
    sub.add_argument("--reason", default="cancelled by request", help="recorded as the run's error")
    sub.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for another live process to carry out the cancel (10)",
    )
    sub.set_defaults(handler=cmd_cancel)
    sub = subparsers.add_parser(
        "adopt",
        parents=[common],
        help="continue an orphaned run on the current version of its workflow",
        description=(
            "Import the modules that define the workflow's current version, check that every "
            "completed task of the run still exists with the same dependencies, and move the "
            "run onto that version; refuse, naming the differences, otherwise."
        ),
    )
    sub.add_argument("run_id", metavar="RUN_ID", help="the run's id (taskloom runs --orphaned)")
    sub.add_argument(
        "--import",
        dest="imports",
        metavar="MODULE",
        action="append",
        required=True,
        help="module (package.module) or file (path/to/file.py) defining the workflow; repeatable",
    )
    sub.set_defaults(handler=cmd_adopt)
