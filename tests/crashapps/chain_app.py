"""A chain of six tasks, t1 -> t2 -> ... -> t6, each leaving a side effect.

Every task appends its id to the side file named in the run's context (with
fsync, so a SIGKILL cannot lose it), sleeps, and adds itself to the context's
``trail``. The side file therefore shows how often each task body ran.

Usage::

    chain_app.py DB_URL SIDE_FILE start [SLEEP]   start a run, print its id, wait for it
    chain_app.py DB_URL SIDE_FILE recover RUN_ID  resume orphaned runs, wait for RUN_ID
"""

from __future__ import annotations

import os
import sys
import time

from taskloom import Context, DefaultRunner, Workflow, WorkflowBuilder, task
from taskloom.core.registry import lookup_workflow

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import append_line, main_as_module

WORKFLOW = "crash_chain"
TASK_IDS = ("t1", "t2", "t3", "t4", "t5", "t6")
DEFAULT_SLEEP = 0.15


def _step(ctx: Context, task_id: str) -> Context:
    append_line(ctx["side_file"], task_id)
    time.sleep(ctx.get("sleep", DEFAULT_SLEEP))
    trail = [*ctx.get("trail", []), task_id]
    ctx.set("trail", trail)
    ctx.set(task_id, len(trail))
    return ctx


def define() -> Workflow:
    """Register the workflow (on import) and return it."""
    with WorkflowBuilder(WORKFLOW) as builder:
        builder.description("six tasks in a row, each with a side effect")

        @task(id="t1", retry_attempts=1)
        def t1(ctx: Context) -> Context:
            return _step(ctx, "t1")

        @task(id="t2", dependencies=["t1"], retry_attempts=1)
        def t2(ctx: Context) -> Context:
            return _step(ctx, "t2")

        @task(id="t3", dependencies=["t2"], retry_attempts=1)
        def t3(ctx: Context) -> Context:
            return _step(ctx, "t3")

        @task(id="t4", dependencies=["t3"], retry_attempts=1)
        def t4(ctx: Context) -> Context:
            return _step(ctx, "t4")

        @task(id="t5", dependencies=["t4"], retry_attempts=1)
        def t5(ctx: Context) -> Context:
            return _step(ctx, "t5")

        @task(id="t6", dependencies=["t5"], retry_attempts=1)
        def t6(ctx: Context) -> Context:
            return _step(ctx, "t6")

    workflow = lookup_workflow(WORKFLOW)
    assert workflow is not None
    return workflow


def main(argv: list[str]) -> int:
    db_url, side_file, mode, *rest = argv
    runner = DefaultRunner(db_url)
    try:
        if mode == "start":
            context = {"side_file": side_file}
            if rest:
                context["sleep"] = float(rest[0])
            handle = runner.start(WORKFLOW, context)
            print(handle.run_id, flush=True)
            result = handle.result(timeout=60)
        elif mode == "recover":
            result = runner.result(rest[0], timeout=60)
        else:
            print(f"unknown mode {mode!r}", file=sys.stderr)
            return 2
        print(result.status, flush=True)
        return 0 if result.status == "Completed" else 1
    finally:
        runner.shutdown()


if __name__ == "__main__":
    main_as_module("chain_app")
else:
    WORKFLOW_DEFINITION = define()
