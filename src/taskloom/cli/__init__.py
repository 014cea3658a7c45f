"""The ``taskloom`` command line: run a workflow, list runs, inspect one run.

Commands::

    taskloom run TARGET [--db URL] [--context JSON | --params JSON] [--json]
    taskloom runs [--db URL] [--limit N] [--status S] [--json]
    taskloom show RUN_ID [--db URL] [--json] [--events]
    taskloom retry RUN_ID | cancel RUN_ID | adopt RUN_ID --import MODULE [--db URL]
    taskloom runs --orphaned [--db URL]
    taskloom worker --db postgresql://... --import MODULE [--concurrency N] [--lease S]
                    [--poll S] [--task-timeout S] [--no-vacuum] [--adopt-orphans]
    taskloom ui [--db URL] [--host H] [--port P] [--token T] [--read-only] [--app MODULE]
    taskloom schedules [list|add TARGET --cron EXPR|pause ID|resume ID|delete ID] [--db URL]
    taskloom flow run|describe|list ...   (auto_workflow's commands, see flow_commands)
    taskloom --version

Exit codes follow the usual Unix split so scripts and CI can branch on them:
``0`` success, ``1`` the run ended but did not complete (failed or
cancelled), ``2`` the command line or its inputs were wrong (the message on
stderr names the argument at fault).

Design notes:

* :func:`main` takes ``argv`` and *returns* the exit code instead of calling
  ``sys.exit`` so that tests (and other programs) can drive it in-process;
  the console script and ``python -m taskloom`` wrap it in ``sys.exit``.
* Every subcommand is one ``cmd_*`` function in its own module (``run``,
  ``inspect``, ``worker``; ``flow`` for ``@flow`` targets) registered on its
  subparser with ``set_defaults(handler=...)``; adding a command is a new
  module plus an ``_add_*_parser`` here, without touching the dispatcher.
* :func:`load_target` (in :mod:`.targets`) is shared by ``run`` and
  ``worker``, which must import workflow definitions the same way so that
  workflow versions match across processes.
* The engine and the journal are imported inside the handlers, so
  ``import taskloom.cli`` costs little beyond the package itself and
  ``taskloom --version`` does not load the execution layer's dependencies.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from taskloom import __version__
from taskloom.cli import control
from taskloom.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    RUN_STATUSES,
    TARGET_FORMS,
    CliError,
    Handler,
    positive_float,
    positive_int,
    run_status,
)
from taskloom.cli.flow_commands import add_flow_parser
from taskloom.cli.format import format_table
from taskloom.cli.inspect import cmd_runs, cmd_show
from taskloom.cli.prune import add_prune_parser, age
from taskloom.cli.run import cmd_run
from taskloom.cli.schedules import add_parser as _add_schedules_parser
from taskloom.cli.targets import import_workflows, load_target
from taskloom.cli.ui import add_ui_parser
from taskloom.cli.worker import cmd_worker

__all__ = ["CliError", "build_parser", "format_table", "import_workflows", "load_target", "main"]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse usage errors
        return _exit_code(exc.code)
    handler: Handler = args.handler
    if getattr(args, "log_format", None) or getattr(args, "log_level", None):
        from taskloom.core.log_fields import configure

        configure(args.log_level or "INFO", args.log_format or "text")
    try:
        return handler(args)
    except CliError as exc:
        if exc.detail:
            sys.stderr.write(exc.detail.rstrip("\n") + "\n")
        sys.stderr.write(f"taskloom {args.command}: error: {exc.message}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("taskloom: interrupted\n")
        return EXIT_INTERRUPTED


def _exit_code(code: object) -> int:
    """Turn a ``SystemExit.code`` into an int the way the interpreter does."""
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    """The full parser. Public so that documentation tools and tests can inspect it."""
    parser = argparse.ArgumentParser(
        prog="taskloom",
        description="Run taskloom workflows and inspect the runs recorded in a journal.",
        epilog=(
            "Exit codes: 0 success, 1 the run failed or was cancelled, 2 bad usage or input. "
            "The database defaults to $TASKLOOM_DATABASE_URL or sqlite://taskloom.db."
        ),
    )
    parser.add_argument("--version", action="version", version=f"taskloom {__version__}")
    # Options every journal-backed command shares; a future `worker` reuses it too.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="journal database URL (default: $TASKLOOM_DATABASE_URL or sqlite://taskloom.db)",
    )
    common.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="print taskloom's logs on stderr, as text or one JSON object per line "
        "(with run_id, task_id and attempt)",
    )
    common.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper,
        default=None,
        help="the least severe log records printed (default INFO when logging is on)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run_parser(subparsers, common)
    _add_runs_parser(subparsers, common)
    _add_show_parser(subparsers, common)
    _add_worker_parser(subparsers, common)
    add_prune_parser(subparsers, common)
    control.add_parsers(subparsers, common)
    add_ui_parser(subparsers, common)
    _add_schedules_parser(subparsers, common)
    add_flow_parser(subparsers, common)
    return parser


def _add_run_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "run",
        parents=[common],
        help="run a workflow or a @flow to its end and print the result",
        description=(
            "Import TARGET, which defines workflows in WorkflowBuilder blocks or @flow "
            "functions, and run the named one. Exit code 1 if the run does not complete."
        ),
    )
    sub.add_argument("target", metavar="TARGET", help=f"the workflow to run: {TARGET_FORMS}")
    sub.add_argument(
        "--context",
        metavar="JSON",
        default=None,
        help="the run's input context as a JSON object, or @FILE to read it from a file",
    )
    sub.add_argument(
        "--params",
        metavar="JSON",
        default=None,
        help="for a @flow: its keyword arguments as a JSON object, or @FILE",
    )
    sub.add_argument("--json", action="store_true", help="print the result as one JSON document")
    sub.set_defaults(handler=cmd_run)


def _add_runs_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser("runs", parents=[common], help="list recent runs, newest first")
    sub.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="show at most N runs (20)"
    )
    sub.add_argument(
        "--status",
        type=run_status,
        default=None,
        metavar="S",
        help=f"only runs with this status: {', '.join(RUN_STATUSES)} (any case)",
    )
    sub.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    sub.add_argument(
        "--orphaned",
        action="store_true",
        help="only running runs that nothing executes (their runner died, or no worker has "
        "their workflow version)",
    )
    sub.add_argument(
        "--lease",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="with --orphaned: seconds without a heartbeat (or a claim) before a run counts (10)",
    )
    sub.set_defaults(handler=cmd_runs)


def _add_show_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "show", parents=[common], help="show one run: its tasks, errors and tracebacks"
    )
    sub.add_argument("run_id", metavar="RUN_ID", help="the run's id (as printed by run / runs)")
    sub.add_argument("--json", action="store_true", help="print the run as one JSON document")
    sub.add_argument("--events", action="store_true", help="also show the run's event log")
    sub.set_defaults(handler=cmd_show)


def _add_worker_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "worker",
        parents=[common],
        help="execute tasks of runs shared through PostgreSQL, until SIGTERM",
        description=(
            "Claim and execute ready tasks of distributed runs (started with "
            "DefaultRunner(url, execute=False) or taskloom.Client) of the workflows defined by "
            "the imported modules. SIGTERM or Ctrl-C drains: running tasks finish and are "
            "recorded, nothing new is claimed."
        ),
    )
    sub.add_argument(
        "--import",
        dest="imports",
        metavar="MODULE",
        action="append",
        required=True,
        help="module (package.module) or file (path/to/file.py) defining workflows; repeatable",
    )
    sub.add_argument(
        "--concurrency", type=positive_int, default=8, help="tasks run at once (default 8)"
    )
    sub.add_argument(
        "--lease",
        type=positive_float,
        default=10.0,
        help="seconds a claimed task stays ours without a heartbeat (default 10)",
    )
    sub.add_argument(
        "--poll",
        type=positive_float,
        default=1.0,
        help="fallback poll interval in seconds; wake-ups normally come by NOTIFY (default 1)",
    )
    sub.add_argument(
        "--task-timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help="per-attempt timeout of tasks of DAG workflows that set none, for runs whose "
        "client recorded no default (DefaultRunnerConfig.task_timeout_seconds); default: none",
    )
    sub.add_argument(
        "--max-process-deaths",
        type=int,
        default=None,
        metavar="N",
        help="a task whose worker died (or froze past its lease) N times in one attempt fails "
        "with ProcessDiedError instead of running again; 0: no limit (default: "
        "$TASKLOOM_MAX_PROCESS_DEATHS, else 3)",
    )
    sub.add_argument(
        "--no-vacuum",
        dest="vacuum",
        action="store_false",
        help="do not VACUUM the queue tables when their dead rows pile up (leave it to autovacuum)",
    )
    sub.add_argument(
        "--retention",
        metavar="AGE",
        type=age,
        default=None,
        help="delete runs that ended more than AGE ago (30d, 12h...), checked hourly",
    )
    sub.add_argument(
        "--metrics-port",
        metavar="N",
        type=int,
        default=None,
        help="serve Prometheus metrics on http://HOST:N/metrics (needs taskloom[metrics])",
    )
    sub.add_argument(
        "--metrics-host",
        metavar="HOST",
        default="127.0.0.1",
        help="the address the metrics endpoint binds (default 127.0.0.1)",
    )
    sub.add_argument(
        "--adopt-orphans",
        action="store_true",
        help="adopt runs of the imported workflows left at another version by a deploy, when "
        "every completed task still exists with the same dependencies (docs/deploys.md)",
    )
    sub.add_argument(
        "--schedules",
        dest="schedules",
        action="store_true",
        default=False,
        help="also fire the schedules and triggers of the imported modules (docs/schedules.md)",
    )
    sub.add_argument(
        "--no-schedules",
        dest="schedules",
        action="store_false",
        help="do not fire schedules (the default)",
    )
    sub.set_defaults(handler=cmd_worker)
