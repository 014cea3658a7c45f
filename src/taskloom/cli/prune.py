"""``taskloom prune``: delete ended runs older than a cut-off (retention on demand).

The same deletion a runner's or worker's ``retention`` option runs on a
timer (:mod:`taskloom.core.retention`): ended runs only, oldest first, in
small batches that never hold the write lock for long.
"""

from __future__ import annotations

import argparse
from typing import Any

from taskloom.cli.common import EXIT_OK, CliError
from taskloom.cli.format import print_json
from taskloom.cli.inspect import _open_existing_journal


def age(text: str) -> float:
    """An ``AGE`` option (30d, 12h, 90m, 45s, 2w) in seconds, for argparse."""
    from taskloom.core.retention import parse_age

    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_prune_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "prune",
        parents=[common],
        help="delete ended runs older than a cut-off",
        description=(
            "Delete runs that ended before the cut-off, with their tasks, events, signals "
            "and artifact files. Running runs, and ended children whose parent still runs, "
            "are never deleted."
        ),
    )
    sub.add_argument(
        "--older-than",
        metavar="AGE",
        required=True,
        help="how long ago a run must have ended: 30d, 12h, 90m, 45s, 2w",
    )
    sub.add_argument(
        "--status",
        metavar="LIST",
        default="completed,failed,cancelled",
        help="comma-separated ended statuses to delete (default: completed,failed,cancelled)",
    )
    sub.add_argument(
        "--batch-size",
        metavar="N",
        type=int,
        default=25,
        help="runs deleted per transaction (default 25)",
    )
    sub.add_argument("--dry-run", action="store_true", help="count what would be deleted")
    sub.add_argument("--json", action="store_true", help="print the report as JSON")
    sub.set_defaults(handler=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> int:
    from taskloom.core.retention import check_statuses, parse_age, prune

    try:
        older_than = parse_age(args.older_than)
        statuses = check_statuses(args.status.split(","))
    except ValueError as exc:
        raise CliError(f"--older-than/--status: {exc}") from exc
    if args.batch_size < 1:
        raise CliError(f"--batch-size {args.batch_size}: give a positive number of runs")
    journal = _open_existing_journal(args.db)
    try:
        report = prune(
            journal,
            older_than,
            statuses=statuses,
            batch_size=args.batch_size,
            dry_run=args.dry_run,
        )
    finally:
        journal.close()
    if args.json:
        print_json(
            {
                "runs": report.runs,
                "artifacts": report.artifacts,
                "kept": report.kept,
                "batches": report.batches,
                "dry_run": report.dry_run,
                "seconds": round(report.seconds, 3),
            }
        )
        return EXIT_OK
    verb = "would delete" if report.dry_run else "deleted"
    line = f"{verb} {report.runs} run(s) that ended more than {args.older_than} ago"
    if not report.dry_run:
        line += f" ({report.artifacts} artifact file(s), {report.batches} batch(es))"
    if report.kept:
        line += f"; kept {report.kept} whose parent still runs"
    print(line)
    return EXIT_OK
