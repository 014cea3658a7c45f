"""``taskloom run TARGET``: run a Cloaca workflow (or hand a ``@flow`` to :mod:`.flow`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskloom.core.result import WorkflowResult
from taskloom.cli.common import EXIT_OK, EXIT_RUN_FAILED, CliError, parse_context
from taskloom.cli.format import (
    format_duration,
    indent_rest,
    print_json,
    result_document,
    tasks_table,
)
from taskloom.cli.targets import load_target


def cmd_run(args: argparse.Namespace) -> int:
    """``taskloom run``: import, check the workflow exists, run it, print the result."""
    from taskloom.core.registry import lookup_workflow, workflow_names
    from taskloom.dag.runner import DefaultRunner
    from taskloom.errors import TaskloomError

    target: str = args.target
    db: str | None = args.db
    # Validate the cheap inputs first so a typo never costs an import or a database file.
    context = parse_context(args.context)
    params = parse_context(args.params, "--params")
    module, workflow_name = load_target(target)
    from taskloom.cli.flow import find_flow, run_flow_command

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
        print_json(result_document(result))
    else:
        _print_result(result)
    return EXIT_OK if result.status == "Completed" else EXIT_RUN_FAILED


def _print_result(result: WorkflowResult) -> None:
    print(f"Run {result.run_id}")
    print(f"  workflow: {result.workflow_name}")
    print(f"  status:   {result.status}")
    print(f"  duration: {format_duration(result.duration)}")
    if result.error_message:
        print(f"  error:    {indent_rest(result.error_message, 12)}")
    print()
    print(tasks_table(result))
    print()
    print("Final context:")
    print(json.dumps(result.final_context.to_dict(), indent=2, ensure_ascii=False))
    if result.status != "Completed":
        print()
        print(f"Inspect it (tracebacks, events) with: taskloom show {result.run_id} --events")
