"""The ``taskloom`` command line: run a workflow, list runs, inspect one run.

Commands::

    taskloom run TARGET [--db URL] [--context JSON | --params JSON] [--json]
    taskloom runs [--db URL] [--limit N] [--status S] [--json]
    taskloom show RUN_ID [--db URL] [--json] [--events]
    taskloom worker --db postgresql://... --import MODULE [--concurrency N] [--lease S]
    taskloom --version

Exit codes follow the usual Unix split so scripts and CI can branch on them:
``0`` success, ``1`` the run ended but did not complete (failed or
cancelled), ``2`` the command line or its inputs were wrong (the message on
stderr names the argument at fault).

Design notes:

* :func:`main` takes ``argv`` and *returns* the exit code instead of calling
  ``sys.exit`` so that tests (and other programs) can drive it in-process;
  the console script and ``python -m taskloom`` wrap it in ``sys.exit``.
* Every subcommand is one ``_cmd_*`` function registered on its subparser
  with ``set_defaults(handler=...)``; adding a command (``worker``, say) is a
  new ``_add_*_parser`` plus a handler, without touching the dispatcher.
* :func:`load_target` is public because other commands (a future ``worker``
  that must import the same workflow definitions before it can resume runs)
  need exactly the same ``file.py:NAME`` / ``package.module:NAME`` rules.
* The engine and the journal are imported inside the handlers, so
  ``import taskloom.cli`` costs little beyond the package itself and
  ``taskloom --version`` does not load the execution layer's dependencies.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from taskloom import __version__

if TYPE_CHECKING:
    from taskloom.execution.result import WorkflowResult
    from taskloom.journal.base import Journal
    from taskloom.journal.records import EventRecord, RunRecord

__all__ = ["CliError", "build_parser", "import_workflows", "load_target", "main"]

#: Exit codes (see the module docstring).
EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
#: What a shell reports for a process stopped by Ctrl-C.
EXIT_INTERRUPTED = 130

TARGET_FORMS = "'path/to/file.py:WORKFLOW' or 'package.module:WORKFLOW'"
RUN_STATUSES = ("Running", "Completed", "Failed", "Cancelled")

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A usage or input error: printed as one message on stderr, exit code 2.

    ``detail`` (for example the traceback of a target module that failed to
    import) is printed before the message, because the message alone would
    hide where in the user's file things went wrong.
    """

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse usage errors
        return _exit_code(exc.code)
    handler: Handler = args.handler
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


# --------------------------------------------------------------------------- parser


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
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run_parser(subparsers, common)
    _add_runs_parser(subparsers, common)
    _add_show_parser(subparsers, common)
    _add_worker_parser(subparsers, common)
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
    sub.set_defaults(handler=_cmd_run)


def _add_runs_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser("runs", parents=[common], help="list recent runs, newest first")
    sub.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="show at most N runs (20)"
    )
    sub.add_argument(
        "--status",
        type=_run_status,
        default=None,
        metavar="S",
        help=f"only runs with this status: {', '.join(RUN_STATUSES)} (any case)",
    )
    sub.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    sub.set_defaults(handler=_cmd_runs)


def _add_show_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "show", parents=[common], help="show one run: its tasks, errors and tracebacks"
    )
    sub.add_argument("run_id", metavar="RUN_ID", help="the run's id (as printed by run / runs)")
    sub.add_argument("--json", action="store_true", help="print the run as one JSON document")
    sub.add_argument("--events", action="store_true", help="also show the run's event log")
    sub.set_defaults(handler=_cmd_show)


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
        "--concurrency", type=_positive_int, default=8, help="tasks run at once (default 8)"
    )
    sub.add_argument(
        "--lease",
        type=_positive_float,
        default=10.0,
        help="seconds a claimed task stays ours without a heartbeat (default 10)",
    )
    sub.add_argument(
        "--poll",
        type=_positive_float,
        default=1.0,
        help="fallback poll interval in seconds; wake-ups normally come by NOTIFY (default 1)",
    )
    sub.set_defaults(handler=_cmd_worker)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    """argparse ``type`` for ``--limit``: the error names the bad value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _run_status(text: str) -> str:
    """argparse ``type`` for ``--status``: accept any case, return the journal's spelling."""
    for status in RUN_STATUSES:
        if status.lower() == text.strip().lower():
            return status
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a run status; use one of {', '.join(RUN_STATUSES)}"
    )


# --------------------------------------------------------------------------- target loading


def load_target(target: str) -> tuple[ModuleType, str]:
    """Import the module a ``TARGET`` names and return it with the workflow name.

    ``TARGET`` is ``path/to/file.py:WORKFLOW`` or ``package.module:WORKFLOW``.
    Importing the module runs its ``WorkflowBuilder`` blocks, which register
    the workflows by name; this function does not check that ``WORKFLOW``
    exists, so that callers can decide how to report a missing one.

    A file is executed afresh on every call (a cached copy would not
    re-register its workflows after the registry was reset) under its stem as
    module name, with its directory put on ``sys.path`` so that sibling
    imports work. A module is imported normally, with the current directory
    on ``sys.path`` as ``python -m`` would have it.

    Raises :class:`CliError` naming the expected form when ``TARGET`` is
    malformed or names nothing importable, and with the traceback as detail
    when the module itself raises while being imported.
    """
    module_part, sep, workflow = target.rpartition(":")
    if not sep or not module_part.strip():
        raise CliError(
            f"TARGET {target!r} is missing its ':WORKFLOW' part; expected {TARGET_FORMS}"
        )
    if not workflow.strip() or _looks_like_path(workflow):
        # "C:\flows.py" splits at the drive colon: the "workflow" is really the path.
        raise CliError(f"TARGET {target!r} names no workflow after ':'; expected {TARGET_FORMS}")
    if _looks_like_path(module_part):
        return _load_file(target, Path(module_part)), workflow
    return _load_module(target, module_part), workflow


def _looks_like_path(text: str) -> bool:
    return text.endswith(".py") or "/" in text or os.sep in text


def _load_file(target: str, path: Path) -> ModuleType:
    path = path.expanduser()
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise CliError(f"TARGET {target!r}: file {str(path)!r} {problem}; expected {TARGET_FORMS}")
    path = path.resolve()
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = _module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"TARGET {target!r}: cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing, as importlib does, so that the module can be
    # found by dataclasses, pickle and circular sibling imports while it runs.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise _import_failure(target, str(path), exc) from exc
    return module


def _module_name_for(path: Path) -> str:
    """The stem, unless a *different* module (say the stdlib's ``json``) already has it.

    The name matters beyond cosmetics: it is part of each task's fingerprint
    and so of the workflow version that recovery compares, so the same file
    should get the same name in every process.
    """
    stem = re.sub(r"\W", "_", path.stem)
    if not stem.isidentifier():
        stem = f"_{stem}"
    existing = sys.modules.get(stem)
    existing_file = getattr(existing, "__file__", None) if existing is not None else None
    if existing is None or (existing_file is not None and Path(existing_file).resolve() == path):
        return stem
    return f"_taskloom_target_{stem}"


def _load_module(target: str, name: str) -> ModuleType:
    if not all(part.isidentifier() for part in name.split(".")):
        raise CliError(
            f"TARGET {target!r}: {name!r} is neither a module name nor a .py file; "
            f"expected {TARGET_FORMS}"
        )
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise CliError(
                f"TARGET {target!r}: no module named {missing!r} (searched the current "
                f"directory and sys.path); expected {TARGET_FORMS}"
            ) from None
        raise _import_failure(target, name, exc) from exc
    except Exception as exc:
        raise _import_failure(target, name, exc) from exc


def _import_failure(target: str, what: str, exc: Exception) -> CliError:
    detail = "".join(traceback.format_exception(exc))
    return CliError(
        f"TARGET {target!r}: importing {what!r} raised {type(exc).__name__}: {exc}",
        detail=detail,
    )


def import_workflows(spec: str) -> ModuleType:
    """Import a ``--import`` argument: a module name or a ``.py`` file."""
    if _looks_like_path(spec):
        return _load_file(spec, Path(spec))
    return _load_module(spec, spec)


# --------------------------------------------------------------------------- worker


def _cmd_worker(args: argparse.Namespace) -> int:
    """``taskloom worker``: import the workflows, then claim and run tasks until told to stop."""
    import logging
    import signal

    from taskloom.authoring.registry import workflow_names
    from taskloom.execution.worker import Worker
    from taskloom.journal.urls import is_postgres_url, resolve_url

    url = resolve_url(args.db)
    if not is_postgres_url(url):
        raise CliError(f"--db {url!r}: a worker needs a postgresql:// (or postgres://) url")
    from taskloom.authoring.flow import registered_flows
    from taskloom.steps.workflow import registered_workflows

    for spec in args.imports:
        import_workflows(spec)
    if not (workflow_names() or registered_flows() or registered_workflows()):
        raise CliError(
            f"the imported modules ({', '.join(args.imports)}) define no workflows, flows or "
            "step workflows"
        )
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(message)s"
        )
    try:
        worker = Worker(
            url, concurrency=args.concurrency, lease=args.lease, poll_interval=args.poll
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.request_stop())
    worker.run()
    return EXIT_OK


# --------------------------------------------------------------------------- run


def _cmd_run(args: argparse.Namespace) -> int:
    """``taskloom run``: import, check the workflow exists, run it, print the result."""
    from taskloom.authoring.registry import lookup_workflow, workflow_names
    from taskloom.errors import TaskloomError
    from taskloom.execution.runner import DefaultRunner

    target: str = args.target
    db: str | None = args.db
    # Validate the cheap inputs first so a typo never costs an import or a database file.
    context = _parse_context(args.context)
    params = _parse_context(args.params, "--params")
    module, workflow_name = load_target(target)
    from taskloom.cli_flow import find_flow, run_flow_command

    found = find_flow(module, workflow_name)
    if found is not None:
        if args.context is not None:
            raise CliError(
                f"TARGET {target!r} is a @flow, which takes --params (its keyword arguments), "
                "not --context"
            )
        return run_flow_command(found, params, db, as_json=args.json)
    if args.params is not None:
        raise CliError(
            f"--params is for @flow targets; {workflow_name!r} is not a @flow in "
            f"{module.__name__!r} (pass a workflow's input with --context)"
        )
    if lookup_workflow(workflow_name) is None:
        names = workflow_names()
        known = ", ".join(repr(n) for n in names) if names else "none"
        raise CliError(
            f"TARGET {target!r}: no workflow named {workflow_name!r}; registered workflows: "
            f"{known} (define it in a WorkflowBuilder block, or as a @flow, in "
            f"{module.__name__!r})"
        )
    try:
        runner = DefaultRunner(db)
    except (ValueError, TaskloomError) as exc:
        raise CliError(f"--db: {exc}") from exc
    try:
        handle = runner.start(workflow_name, context)
        try:
            result = handle.result()
        except KeyboardInterrupt:
            # Record the interruption as a cancellation rather than leaving an
            # orphan that the next runner on this database would resume.
            sys.stderr.write(f"taskloom run: interrupted; cancelling run {handle.run_id}\n")
            handle.cancel()
            result = handle.result()
    finally:
        runner.shutdown()
    if args.json:
        _print_json(_result_document(result))
    else:
        _print_result(result)
    return EXIT_OK if result.status == "Completed" else EXIT_RUN_FAILED


def _parse_context(text: str | None, option: str = "--context") -> dict[str, Any]:
    """Parse ``--context`` / ``--params``: a JSON object, inline or ``@file``; errors name
    the option."""
    if text is None:
        return {}
    source = option
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        source = f"{option} file {str(path)!r}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{option}: cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"""give a JSON object, e.g. {option} '{{"n": 3}}'"""
        ) from None
    except ValueError as exc:
        raise CliError(f"{source}: {exc}") from None
    if not isinstance(value, dict):
        raise CliError(
            f"{source} must be a JSON object, got a JSON {_json_type(value)}; "
            f"""wrap it in an object, e.g. {option} '{{"value": ...}}'"""
        )
    return value


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON, and a context holding them could not be stored."""
    raise ValueError(f"{name} is not a JSON value; use null or a string instead")


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _print_result(result: WorkflowResult) -> None:
    print(f"Run {result.run_id}")
    print(f"  workflow: {result.workflow_name}")
    print(f"  status:   {result.status}")
    print(f"  duration: {_format_duration(result.duration)}")
    if result.error_message:
        print(f"  error:    {_indent_rest(result.error_message, 12)}")
    print()
    print(_tasks_table(result))
    print()
    print("Final context:")
    print(json.dumps(result.final_context.to_dict(), indent=2, ensure_ascii=False))
    if result.status != "Completed":
        print()
        print(f"Inspect it (tracebacks, events) with: taskloom show {result.run_id} --events")


# --------------------------------------------------------------------------- runs


def _cmd_runs(args: argparse.Namespace) -> int:
    """``taskloom runs``: the most recent runs, optionally of one status."""
    limit: int = args.limit
    status: str | None = args.status
    journal = _open_existing_journal(args.db)
    try:
        runs = journal.list_runs(limit=limit, status=status)
    finally:
        journal.close()
    if args.json:
        _print_json([_run_summary(run) for run in runs])
        return EXIT_OK
    if not runs:
        suffix = f" with status {status}" if status else ""
        print(f"No runs{suffix} in {journal.url}")
        return EXIT_OK
    rows = [
        [
            run.run_id,
            run.workflow_name,
            run.status,
            _format_time(run.created_at),
            _format_duration(_run_duration(run)),
            _first_line(run.error),
        ]
        for run in runs
    ]
    print(format_table(["RUN ID", "WORKFLOW", "STATUS", "CREATED", "DURATION", "ERROR"], rows))
    return EXIT_OK


def _run_summary(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "workflow": run.workflow_name,
        "workflow_version": run.workflow_version,
        "status": run.status,
        "created_at": _iso(run.created_at),
        "ended_at": _iso(run.ended_at),
        "duration": _run_duration(run),
        "error_message": run.error,
    }


def _run_duration(run: RunRecord) -> float | None:
    if run.ended_at is None:
        return None
    return max(0.0, run.ended_at - run.created_at)


# --------------------------------------------------------------------------- show


def _cmd_show(args: argparse.Namespace) -> int:
    """``taskloom show``: one run's header, tasks (with tracebacks) and optionally events."""
    from taskloom.execution.result import WorkflowResult

    run_id: str = args.run_id.strip()
    journal = _open_existing_journal(args.db)
    try:
        run = journal.get_run(run_id)
        if run is None:
            raise CliError(
                f"RUN_ID {run_id!r}: no such run in {journal.url}; "
                "list run ids with 'taskloom runs'"
            )
        tasks = journal.get_tasks(run_id)
        events = journal.get_events(run_id) if args.events else []
    finally:
        journal.close()
    result = WorkflowResult.from_records(run, tasks)
    if args.json:
        document = _result_document(result)
        document["workflow_version"] = run.workflow_version
        document["input_context"] = json.loads(run.input_json)
        if args.events:
            document["events"] = [_event_document(event) for event in events]
        _print_json(document)
        return EXIT_OK
    _print_run_details(run, result)
    if args.events:
        print()
        print("Events:")
        print(_indent(_events_table(run, events), 2))
    return EXIT_OK


def _print_run_details(run: RunRecord, result: WorkflowResult) -> None:
    print(f"Run {run.run_id}")
    print(f"  workflow: {run.workflow_name} (version {run.workflow_version})")
    print(f"  status:   {run.status}")
    print(f"  created:  {_format_time(run.created_at)}")
    ended = _format_time(run.ended_at) if run.ended_at is not None else "-"
    print(f"  ended:    {ended}")
    print(f"  duration: {_format_duration(_run_duration(run))}")
    if run.error:
        print(f"  error:    {_indent_rest(run.error, 12)}")
    print()
    print(_tasks_table(result))
    for outcome in result.task_results.values():
        if outcome.traceback and outcome.status == "Failed":
            print()
            print(f"Traceback of task {outcome.task_id} (attempt {outcome.attempts}):")
            print(_indent(outcome.traceback.rstrip("\n"), 4))


def _events_table(run: RunRecord, events: Sequence[EventRecord]) -> str:
    rows = [
        [
            f"+{max(0.0, event.at - run.created_at):.3f}s",
            event.kind,
            event.task_key or "-",
            _compact_json(event.data_json),
        ]
        for event in events
    ]
    return format_table(["AT", "EVENT", "TASK", "DATA"], rows)


def _event_document(event: EventRecord) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "at": _iso(event.at),
        "task_id": event.task_key,
        "data": json.loads(event.data_json) if event.data_json else None,
    }


# --------------------------------------------------------------------------- shared helpers


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
            raise CliError(f"{origin}: no journal database at {path!r} (url {resolved!r})")
    try:
        return open_journal(resolved)
    except (ValueError, TaskloomError) as exc:
        raise CliError(f"--db: {exc}") from exc


def _result_document(result: WorkflowResult) -> dict[str, Any]:
    """The machine-readable form of a run, shared by ``run --json`` and ``show --json``."""
    document: dict[str, Any] = {
        "run_id": result.run_id,
        "workflow": result.workflow_name,
        "status": result.status,
        "error_message": result.error_message,
        "start_time": result.start_time.isoformat(),
        "end_time": result.end_time.isoformat() if result.end_time is not None else None,
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


def _tasks_table(result: WorkflowResult) -> str:
    rows = [
        [
            outcome.task_id,
            outcome.status,
            str(outcome.attempts),
            _format_duration(outcome.duration),
            _first_line(outcome.error),
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


def _format_duration(seconds: float | None) -> str:
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


def _format_time(epoch: float | None) -> str:
    """Local wall-clock time: what a person at the terminal compares against."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def _iso(epoch: float | None) -> str | None:
    """UTC ISO 8601 with offset: unambiguous for programs reading ``--json``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat()


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return f"{first} ..." if len(lines) > 1 else first


def _compact_json(text: str | None) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return _first_line(text)


def _indent(text: str, width: int) -> str:
    prefix = " " * width
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def _indent_rest(text: str, width: int) -> str:
    """Indent every line but the first, which follows a label on the same line."""
    first, _, rest = text.partition("\n")
    return first if not rest else first + "\n" + _indent(rest, width)


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))
