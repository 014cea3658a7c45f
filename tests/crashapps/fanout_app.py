"""Many small parallel runs from one process, to share a SQLite file with others.

The workflow fans out from ``split`` to four ``work_*`` tasks and joins in
``join``. The program waits for a common start time (so that several copies
really overlap), starts RUNS runs at once on a runner with
``max_concurrent_tasks=4``, waits for all of them and exits 0 only if every
run completed with the expected context.

Usage::

    fanout_app.py DB_URL SIDE_FILE RUNS START_AT
"""

from __future__ import annotations

import os
import sys
import time

from taskloom import Context, DefaultRunner, DefaultRunnerConfig, Workflow, WorkflowBuilder, task
from taskloom.core.registry import lookup_workflow

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import main_as_module, wait_until_time

WORKFLOW = "crash_fanout"
WORK_SLEEP = 0.01


def _work(ctx: Context, name: str) -> Context:
    time.sleep(WORK_SLEEP)
    ctx.set(name, ctx["n"] * 2)
    return ctx


def define() -> Workflow:
    with WorkflowBuilder(WORKFLOW):

        @task(id="split", retry_attempts=1)
        def split(ctx: Context) -> Context:
            ctx.set("n", ctx["i"] + 1)
            return ctx

        @task(id="work_a", dependencies=["split"], retry_attempts=1)
        def work_a(ctx: Context) -> Context:
            return _work(ctx, "a")

        @task(id="work_b", dependencies=["split"], retry_attempts=1)
        def work_b(ctx: Context) -> Context:
            return _work(ctx, "b")

        @task(id="work_c", dependencies=["split"], retry_attempts=1)
        def work_c(ctx: Context) -> Context:
            return _work(ctx, "c")

        @task(id="work_d", dependencies=["split"], retry_attempts=1)
        def work_d(ctx: Context) -> Context:
            return _work(ctx, "d")

        @task(
            id="join",
            dependencies=["work_a", "work_b", "work_c", "work_d"],
            retry_attempts=1,
        )
        def join(ctx: Context) -> Context:
            ctx.set("total", sum(ctx[k] for k in ("a", "b", "c", "d")))
            return ctx

    workflow = lookup_workflow(WORKFLOW)
    assert workflow is not None
    return workflow


def main(argv: list[str]) -> int:
    db_url, _side_file, runs_text, start_at = argv
    runs = int(runs_text)
    runner = DefaultRunner(db_url, DefaultRunnerConfig(max_concurrent_tasks=4))
    failures = 0
    try:
        wait_until_time(float(start_at))
        handles = [runner.start(WORKFLOW, {"i": i, "origin": os.getpid()}) for i in range(runs)]
        for i, handle in enumerate(handles):
            result = handle.result(timeout=50)
            expected_total = 4 * 2 * (i + 1)
            total = result.final_context.get("total")
            if result.status != "Completed" or total != expected_total:
                failures += 1
                print(
                    f"run {handle.run_id}: status {result.status}, total {total!r} "
                    f"(expected {expected_total}), error {result.error_message}",
                    file=sys.stderr,
                )
        print(f"completed {runs - failures} of {runs}", flush=True)
        return 0 if failures == 0 else 1
    finally:
        runner.shutdown()


if __name__ == "__main__":
    main_as_module("fanout_app")
else:
    WORKFLOW_DEFINITION = define()
