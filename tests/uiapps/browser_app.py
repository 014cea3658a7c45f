"""The application the browser tests watch: a process that runs workflows.

``python browser_app.py DB_URL DIR`` starts three runs on the journal and
keeps its runner alive until SIGTERM, as a real application would:

* ``gated`` (DAG a -> b -> c): ``b`` and ``c`` wait for the files
  ``DIR/open-b`` and ``DIR/open-c`` (so a test decides when a node moves);
* ``flaky`` (DAG fetch -> store): ``store`` fails until ``DIR/fixed`` exists;
* ``Approval`` (step workflow): one operation, then waits for event ``approve``.

The run ids go to ``DIR/runs.json`` once all three are recorded.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path

import taskloom as cloaca
from taskloom import task
from taskloom.steps import Client, Context, Directive, Workflow

DIR = Path(sys.argv[2])


def wait_for(name: str) -> None:
    while not (DIR / name).exists():
        time.sleep(0.02)


with cloaca.WorkflowBuilder("gated") as gated:
    gated.description("a node moves when the test opens its gate")

    @cloaca.task(id="a")
    def a(ctx: cloaca.Context) -> cloaca.Context:
        ctx.set("password", "hunter2")
        return ctx

    @cloaca.task(id="b", dependencies=["a"])
    def b(ctx: cloaca.Context) -> cloaca.Context:
        wait_for("open-b")
        return ctx

    @cloaca.task(id="c", dependencies=["b"])
    def c(ctx: cloaca.Context) -> cloaca.Context:
        wait_for("open-c")
        return ctx


with cloaca.WorkflowBuilder("flaky") as flaky:
    flaky.description("fails until fixed")

    @cloaca.task(id="fetch")
    def fetch(ctx: cloaca.Context) -> cloaca.Context:
        ctx.set("rows", 3)
        return ctx

    @cloaca.task(id="store", dependencies=["fetch"], retry_attempts=1)
    def store(ctx: cloaca.Context) -> cloaca.Context:
        if not (DIR / "fixed").exists():
            raise ConnectionError("<b>database</b> unreachable")
        ctx.set("stored", ctx.get("rows"))
        return ctx


approval = Workflow(workflow_type="Approval")


@task
async def reserve(order: str) -> str:
    return f"reserved {order}"


@approval.start()
async def start(ctx: Context, order: str) -> Directive:
    ctx.store.put("note", await reserve(order))
    return ctx.next.wait()


@approval.event("approve")
async def approve(ctx: Context, by: str) -> Directive:
    return ctx.next.complete({"by": by, "note": await ctx.store.get("note")})


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with cloaca.DefaultRunner(sys.argv[1]) as runner:
        gated_run = runner.start("gated", cloaca.Context({"api_key": "k-1"}))
        flaky_run = runner.start("flaky", cloaca.Context())
        client = Client(sys.argv[1])
        step = client.start_workflow("Approval", "approval-1", {"order": "o-7"})
        flaky_run.result(timeout=30)
        (DIR / "runs.json").write_text(
            json.dumps(
                {"gated": gated_run.run_id, "flaky": flaky_run.run_id, "steps": step.workflow_id}
            )
        )
        stop.wait()
        for gate in ("open-b", "open-c"):  # let task bodies still waiting return
            (DIR / gate).touch()


if __name__ == "__main__":
    main()
