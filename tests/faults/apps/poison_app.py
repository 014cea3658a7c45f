"""A poison task: its body kills the process running it, for test_poison.py.

``$POISON_HOW`` says how: ``exit`` (``os._exit(3)``, what a C extension or
a careless library does) or ``sigkill`` (the process SIGKILLs itself, as
the OOM killer would). ``$POISON_DEATHS`` (default: always) makes it kill
only its first N executions, counted in ``$TASKLOOM_FAULT_SIDE/poison``.

Usage as a runner process::

    poison_app.py DB SIDE_DIR start [RETRIES]   start a run of "poison" and wait for it
    poison_app.py DB SIDE_DIR resume            resume orphaned runs, wait for them
"""

from __future__ import annotations

import os
import signal
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import poison_app

    sys.exit(poison_app.main(sys.argv[1:]))

from taskloom import Context, DefaultRunner, WorkflowBuilder, task


def _executions() -> int:
    """Count this execution (one line per execution) and return how many came before."""
    path = os.path.join(os.environ["TASKLOOM_FAULT_SIDE"], "poison")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        before = os.fstat(fd).st_size // 2
        os.write(fd, b"x\n")
    finally:
        os.close(fd)
    return before


def _poison(ctx: Context) -> Context:
    before = _executions()
    limit = os.environ.get("POISON_DEATHS")
    if limit is None or before < int(limit):
        if os.environ.get("POISON_HOW") == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(3)
    ctx.set("survived_after", before)
    return ctx


def _first(ctx: Context) -> Context:
    ctx.set("first", True)
    return ctx


def define(retries: int) -> None:
    """Workflow ``poison``: ``first`` then ``poison`` (retried ``retries`` times)."""
    with WorkflowBuilder("poison") as builder:
        builder.add_task(task(id="first")(_first))
        builder.add_task(
            task(
                id="poison", dependencies=["first"], retry_attempts=retries + 1, retry_delay_ms=10
            )(_poison)
        )


define(int(os.environ.get("POISON_RETRIES", "0")))


def main(argv: list[str]) -> int:
    db, side, mode = argv[:3]
    os.environ["TASKLOOM_FAULT_SIDE"] = side
    with DefaultRunner(db) as runner:
        if mode == "start":
            runner.start("poison", {"tag": "poison"}).result(timeout=60)
        else:
            for run in runner.journal.unfinished_runs():
                runner.result(run.run_id, timeout=60)
    return 0
