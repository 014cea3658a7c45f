"""A task that fails its first attempt and is retried after a fixed 1.5 s.

``flaky`` appends ``flaky ATTEMPT TIMESTAMP`` to the side file at the start
of every attempt and raises on the first one; ``after`` depends on it and
appends ``after TIMESTAMP``. The test kills the process during the retry
wait and checks that the recovering process keeps the recorded due time.

Usage::

    retry_app.py DB_URL SIDE_FILE start   start a run, print its id, wait for it
"""

from __future__ import annotations

import os
import sys
import time

from taskloom import Context, DefaultRunner, Workflow, WorkflowBuilder, task
from taskloom.core.registry import lookup_workflow

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import append_line, main_as_module, read_lines

WORKFLOW = "crash_retry"
RETRY_DELAY_MS = 1500


def define() -> Workflow:
    with WorkflowBuilder(WORKFLOW):

        @task(
            id="flaky",
            retry_attempts=3,
            retry_backoff="fixed",
            retry_delay_ms=RETRY_DELAY_MS,
            retry_jitter=False,
        )
        def flaky(ctx: Context) -> Context:
            side_file = ctx["side_file"]
            attempt = sum(1 for line in read_lines(side_file) if line.startswith("flaky ")) + 1
            append_line(side_file, f"flaky {attempt} {time.time():.6f}")
            if attempt == 1:
                raise RuntimeError("the first attempt of flaky always fails")
            ctx.set("flaky_attempt", attempt)
            return ctx

        @task(id="after", dependencies=["flaky"], retry_attempts=1)
        def after(ctx: Context) -> Context:
            append_line(ctx["side_file"], f"after {time.time():.6f}")
            ctx.set("after", True)
            return ctx

    workflow = lookup_workflow(WORKFLOW)
    assert workflow is not None
    return workflow


def main(argv: list[str]) -> int:
    db_url, side_file, mode = argv
    if mode != "start":
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    runner = DefaultRunner(db_url)
    try:
        handle = runner.start(WORKFLOW, {"side_file": side_file})
        print(handle.run_id, flush=True)
        result = handle.result(timeout=60)
        print(result.status, flush=True)
        return 0 if result.status == "Completed" else 1
    finally:
        runner.shutdown()


if __name__ == "__main__":
    main_as_module("retry_app")
else:
    WORKFLOW_DEFINITION = define()
