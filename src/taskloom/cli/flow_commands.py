"""``taskloom flow run|describe|list``: auto_workflow's command line, on taskloom.

The same arguments as ``python -m auto_workflow.cli``:

    taskloom flow run MODULE:FLOW [--failure-policy P] [--max-concurrency N]
                      [--params JSON] [--executor E] [--structured-logs] [--db URL]
    taskloom flow describe MODULE:FLOW [--params JSON]
    taskloom flow list MODULE

and the same exit codes: 0 when the command did its job, 1 when the run
failed or the module or object could not be loaded (the message on stderr
says which: "Failed to import module ...", "... not found in module ..."),
2 for a malformed command line (an unknown ``--failure-policy``, a
``--max-concurrency`` that is not a positive int). ``run`` prints the
flow's value as ``print`` does, ``describe`` the ``flow.describe()`` JSON,
``list`` a JSON object mapping each flow of the module to its number of
task calls (``null`` for a flow whose body needs arguments). ``MODULE`` may
also be a ``path/to/file.py``.

``--executor`` is accepted and has no effect, as in auto_workflow (each
task's ``run_in`` decides where it runs). ``--params`` go to ``flow.run(params=...)``:
keyword arguments the flow body takes, the rest seen only through
``get_context().params`` (which is all auto_workflow does with them).
"""

from __future__ import annotations

import argparse
import json
import sys
from types import ModuleType
from typing import Any

from taskloom.cli.common import EXIT_OK, EXIT_RUN_FAILED, CliError, positive_int
from taskloom.cli.targets import import_workflows
from taskloom.dataflow.flow import Flow, merge_params
from taskloom.dataflow.policy import FailurePolicy


def add_flow_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Register ``flow`` and its three subcommands."""
    group = subparsers.add_parser(
        "flow",
        help="run, describe or list @flow functions (auto_workflow's CLI)",
        description="auto_workflow's commands: run a flow, describe its graph, list flows.",
    )
    commands = group.add_subparsers(dest="flow_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", parents=[common], help="run a flow and print its value")
    run.add_argument("flow", metavar="MODULE:FLOW", help="module:flow_object path")
    run.add_argument("--executor", default="async", help="accepted for auto_workflow; no effect")
    run.add_argument(
        "--failure-policy",
        default=FailurePolicy.FAIL_FAST.value,
        choices=[p.value for p in FailurePolicy],
    )
    run.add_argument("--max-concurrency", type=positive_int, default=None, metavar="N")
    run.add_argument("--params", default=None, metavar="JSON", help="JSON params dict")
    run.add_argument(
        "--structured-logs", action="store_true", help="log one JSON line per task call"
    )
    run.set_defaults(handler=cmd_flow_run)
    describe = commands.add_parser("describe", help="print a flow's graph as JSON")
    describe.add_argument("flow", metavar="MODULE:FLOW", help="module:flow_object path")
    describe.add_argument("--params", default=None, metavar="JSON", help="JSON params dict")
    describe.set_defaults(handler=cmd_flow_describe)
    listing = commands.add_parser("list", help="list the flows of a module")
    listing.add_argument("module", metavar="MODULE", help="Python module to scan for flows")
    listing.set_defaults(handler=cmd_flow_list)


class _LoadError(Exception):
    """The module or the flow could not be loaded (exit 1, like auto_workflow)."""


def _import(name: str) -> ModuleType:
    try:
        return import_workflows(name)
    except CliError as exc:
        raise _LoadError(f"Failed to import module {name!r}: {exc.message}") from None


def load_flow(path: str) -> Flow[Any, Any]:
    """The flow a ``module:object`` path names."""
    module_name, sep, attribute = path.rpartition(":")
    if not sep or not module_name or not attribute:
        raise _LoadError(f"Flow path must be module:object, got {path!r}")
    module = _import(module_name)
    found = getattr(module, attribute, None)
    if found is None:
        raise _LoadError(f"Object {attribute!r} not found in module {module_name!r}")
    if not isinstance(found, Flow):
        raise _LoadError(
            f"{path!r} is a {type(found).__name__}, not a @flow; decorate the function with @flow"
        )
    return found


def _params(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _LoadError(f"--params is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _LoadError(f"--params must be a JSON object of keyword arguments, got {text!r}")
    return value


def _guarded(command: str, args: argparse.Namespace, body: Any) -> int:
    try:
        return int(body(args))
    except _LoadError as exc:
        sys.stderr.write(f"taskloom flow {command}: {exc}\n")
        return EXIT_RUN_FAILED


def cmd_flow_run(args: argparse.Namespace) -> int:
    return _guarded("run", args, _run)


def _run(args: argparse.Namespace) -> int:
    from taskloom.core.shared_engines import shutdown_engines

    params = _params(args.params)
    flow = load_flow(args.flow)
    if args.structured_logs:
        from taskloom.dataflow.hooks.task_logging import register_structured_logging

        register_structured_logging()
    try:
        result = flow.run(
            params=params,
            failure_policy=args.failure_policy,
            max_concurrency=args.max_concurrency,
            db=args.db,
        )
    except Exception as exc:
        sys.stderr.write(
            f"taskloom flow run: flow {flow.name!r} failed: {type(exc).__name__}: {exc}\n"
        )
        return EXIT_RUN_FAILED
    finally:
        shutdown_engines()
    print(result)
    return EXIT_OK


def cmd_flow_describe(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        params = _params(args.params)
        flow = load_flow(args.flow)
        print(json.dumps(flow.describe(**merge_params(flow.fn, {}, params)), indent=2))
        return EXIT_OK

    return _guarded("describe", args, body)


def cmd_flow_list(args: argparse.Namespace) -> int:
    def body(args: argparse.Namespace) -> int:
        module = _import(args.module)
        found = {
            name: _count(value) for name, value in vars(module).items() if isinstance(value, Flow)
        }
        print(json.dumps(found, indent=2))
        return EXIT_OK

    return _guarded("list", args, body)


def _count(flow: Flow[Any, Any]) -> int | None:
    """Task calls the body makes without arguments; None if it needs arguments."""
    try:
        return int(flow.describe()["count"])
    except TypeError:
        return None


def main(argv: list[str] | None = None) -> int:
    """``python -m taskloom.compat.auto_workflow.cli ...``: the ``flow`` group alone."""
    from taskloom.cli import main as taskloom_main

    return taskloom_main(["flow", *(sys.argv[1:] if argv is None else argv)])


__all__ = ["add_flow_parser", "load_flow", "main"]
