"""A DAG run whose one task blocks until a gate file appears (for cancel tests).

Usage::

    block_app.py DB_URL SIDE_FILE GATE_FILE   start a run, print its id, wait for its end
"""

from __future__ import annotations

import os
import sys
import time

from taskloom import Context, DefaultRunner, WorkflowBuilder, task

WORKFLOW = "deploy_block"


def define() -> None:
    with WorkflowBuilder(WORKFLOW):

        @task(id="hold")
        def hold(ctx: Context) -> Context:
            with open(ctx["side_file"], "a") as f:
                f.write("hold\n")
                f.flush()
                os.fsync(f.fileno())
            deadline = time.monotonic() + 60
            while not os.path.exists(ctx["gate_file"]) and time.monotonic() < deadline:
                time.sleep(0.02)
            return ctx


def main(argv: list[str]) -> int:
    db_url, side_file, gate_file = argv
    define()
    with DefaultRunner(db_url) as runner:
        handle = runner.start(WORKFLOW, {"side_file": side_file, "gate_file": gate_file})
        print(handle.run_id, flush=True)
        result = handle.result(timeout=90)
        print(result.status, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
