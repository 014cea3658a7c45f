"""One workflow per style in three versions, to deploy a new version under a run in flight.

``v1`` starts a run whose second task (or operation) blocks until the process
is killed. ``v2`` is a compatible change (the blocked task's body changed, a
task added at the end; for steps a ``ctx.patched`` branch). ``v2bad`` is
incompatible: a completed task gets a new dependency (for steps: a new call
inserted without ``ctx.patched``). Every body appends a line to SIDE_FILE.

Usage::

    deploy_app.py STYLE VERSION DB_URL SIDE_FILE start            print a run id, block
    deploy_app.py STYLE VERSION DB_URL SIDE_FILE adopt RUN_ID     taskloom.adopt_run, then wait
    deploy_app.py STYLE VERSION DB_URL SIDE_FILE policy RUN_ID    a runner with adopt_orphans=True
    deploy_app.py STYLE VERSION DB_URL SIDE_FILE resume RUN_ID    steps: replay on the new code
    deploy_app.py STYLE VERSION DB_URL SIDE_FILE fresh            steps: a new run on this code
    deploy_app.py dag|flow VERSION PG_URL SIDE_FILE dist_start         a worker + a distributed run
    deploy_app.py dag|flow VERSION PG_URL SIDE_FILE dist_adopt RUN_ID  adopt_run, then a worker
    deploy_app.py dag|flow VERSION PG_URL SIDE_FILE dist_policy RUN_ID a worker, adopt_orphans

The last line printed is the outcome (``Completed {...}``, ``Failed: ...``,
``Refused: ...``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import taskloom
from taskloom import Context, DefaultRunner, DefaultRunnerConfig, WorkflowBuilder, task

#: Where bodies append their lines (set by main, or $DEPLOY_SIDE when imported).
SIDE = os.environ.get("DEPLOY_SIDE", "")


def side(text: str) -> None:
    with open(SIDE, "a", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def block() -> None:
    """Wait to be killed (v1's in-flight task)."""
    time.sleep(120)


# -- DAG ---------------------------------------------------------------------------


def dag_v1() -> None:
    with WorkflowBuilder("deploy_dag"):

        @task(id="a", retry_attempts=1)
        def a(ctx: Context) -> Context:
            side("a")
            ctx.set("a", 1)
            return ctx

        @task(id="b", dependencies=["a"], retry_attempts=1)
        def b(ctx: Context) -> Context:
            side("b")
            block()
            return ctx

        @task(id="c", dependencies=["b"], retry_attempts=1)
        def c(ctx: Context) -> Context:
            side("c")
            return ctx


def dag_v2() -> None:
    with WorkflowBuilder("deploy_dag"):

        @task(id="a", retry_attempts=1)
        def a(ctx: Context) -> Context:
            side("a")
            ctx.set("a", 1)
            return ctx

        @task(id="b", dependencies=["a"], retry_attempts=1)
        def b(ctx: Context) -> Context:
            side("b2")
            ctx.set("b", ctx.get("a") + 1)
            return ctx

        @task(id="c", dependencies=["b"], retry_attempts=1)
        def c(ctx: Context) -> Context:
            side("c")
            ctx.set("c", ctx.get("b") + 1)
            return ctx

        @task(id="d", dependencies=["c"], retry_attempts=1)
        def d(ctx: Context) -> Context:
            side("d")
            ctx.set("d", ctx.get("c") + 1)
            return ctx


def dag_v2bad() -> None:
    with WorkflowBuilder("deploy_dag"):

        @task(id="z", retry_attempts=1)
        def z(ctx: Context) -> Context:
            side("z")
            return ctx

        @task(id="a", dependencies=["z"], retry_attempts=1)
        def a(ctx: Context) -> Context:
            side("a")
            return ctx

        @task(id="b", dependencies=["a"], retry_attempts=1)
        def b(ctx: Context) -> Context:
            side("b2")
            return ctx


# -- flows -------------------------------------------------------------------------


@task
def fa(n: int) -> int:
    side("fa")
    return n + 1


@task
def fz(n: int) -> int:
    side("fz")
    return n


def flow_v1() -> None:
    @task
    def fb(n: int) -> int:
        side("fb")
        block()
        return n

    @task
    def fc(n: int) -> int:
        side("fc")
        return n

    @taskloom.flow(name="deploy_flow")
    def deploy_flow(n: int) -> int:
        return fc(fb(fa(n)))


def flow_v2() -> None:
    @task
    def fb(n: int) -> int:
        side("fb2")
        return n * 10

    @task
    def fc(n: int) -> int:
        side("fc")
        return n + 1

    @task
    def fd(n: int) -> int:
        side("fd")
        return n * 2

    @taskloom.flow(name="deploy_flow")
    def deploy_flow(n: int) -> int:
        return fd(fc(fb(fa(n))))


def flow_v2bad() -> None:
    @task
    def fb(n: int) -> int:
        side("fb2")
        return n

    @taskloom.flow(name="deploy_flow")
    def deploy_flow(n: int) -> int:
        return fb(fa(fz(n)))


# -- steps -------------------------------------------------------------------------


def steps(version: str) -> None:
    from taskloom.steps import Directive, StepContext, Workflow

    wf = Workflow(workflow_type="DeployOrder")

    @task
    async def charge(amount: int) -> str:
        side("charge")
        return f"txn{amount}"

    @task
    async def audit(txn: str) -> None:
        side("audit")

    @task
    async def ship(txn: str) -> str:
        side("ship" if version == "v1" else "ship2")
        if version == "v1":
            await asyncio.sleep(120)  # wait to be killed, without blocking the loop
        return f"shipped {txn}"

    @wf.start()
    async def start(ctx: StepContext, amount: int) -> Directive:
        txn = await charge(amount)
        if version == "v2" and ctx.patched("audit-before-shipping"):
            await audit(txn)
        if version == "v2bad":
            await audit(txn)
        return ctx.next.complete(await ship(txn))


# -- driving -----------------------------------------------------------------------


def define(style: str, version: str) -> None:
    if style == "steps":
        steps(version)
        return
    {
        "dag": {"v1": dag_v1, "v2": dag_v2, "v2bad": dag_v2bad},
        "flow": {"v1": flow_v1, "v2": flow_v2, "v2bad": flow_v2bad},
    }[style][version]()


def start(style: str, db: str) -> None:
    if style == "dag":
        runner = DefaultRunner(db)
        handle = runner.start("deploy_dag", {})
        print(handle.run_id, flush=True)
        handle.result()
    elif style == "flow":
        from taskloom.dataflow.flow import lookup_flow

        flow = lookup_flow("deploy_flow")
        assert flow is not None
        print(flow.name, flush=True)  # the test reads the run id from the journal
        flow.run(1, db=db)
    else:
        from taskloom.steps import Client

        client = Client(db)
        handle = client.start_workflow("DeployOrder", "order-1", {"amount": 5})
        print(handle.workflow_id, flush=True)
        handle.result()


def finish(style: str, db: str, run_id: str, policy: bool) -> str:
    if style == "dag":
        config = DefaultRunnerConfig(adopt_orphans=policy)
        with DefaultRunner(db, config) as runner:
            if not policy:
                taskloom.adopt_run(run_id, database_url=db)
            result = runner.result(run_id, timeout=60)
        return f"{result.status} {json.dumps(result.final_context.to_dict(), sort_keys=True)}"
    if style == "flow":
        if policy:
            with DefaultRunner(db, DefaultRunnerConfig(adopt_orphans=True)):
                value = taskloom.resume(run_id, db=db, timeout=60)
        else:
            taskloom.adopt_run(run_id, database_url=db)
            value = taskloom.resume(run_id, db=db, timeout=60)
        return f"Completed {json.dumps(value)}"
    from taskloom.steps import Client

    try:
        value: Any = Client(db).get_handle(run_id).result(timeout=60)
    except Exception as exc:
        return f"Failed: {type(exc).__name__}: {exc}"
    return f"Completed {json.dumps(value)}"


def distributed(style: str, db: str, mode: str, run_id: str | None) -> str:
    """PostgreSQL: the run is executed by workers (lease 1 s, so a killed one is noticed
    quickly)."""
    from taskloom import Client, Worker
    from taskloom.dataflow.flow import lookup_flow
    from taskloom.dataflow.remote import RemoteFlowHandle

    served: dict[str, Any] = (
        {"workflows": ["deploy_dag"], "flows": []}
        if style == "dag"
        else {"workflows": [], "flows": ["deploy_flow"]}
    )
    worker = Worker(
        db,
        **served,
        steps=False,
        lease=1.0,
        poll_interval=0.2,
        adopt_orphans=mode == "dist_policy",
    )
    client = Client(db)
    try:
        if mode == "dist_start":
            worker.start()
            if style == "dag":
                print(client.submit("deploy_dag", {}), flush=True)
            else:
                flow = lookup_flow("deploy_flow")
                assert flow is not None
                print(flow.submit(1, db=db).run_id, flush=True)
            time.sleep(120)
        assert run_id is not None
        if mode == "dist_adopt":
            deadline = time.monotonic() + 30
            while True:  # the killed worker's lease must run out first
                try:
                    taskloom.adopt_run(run_id, database_url=db)
                    break
                except taskloom.RunStateError as exc:
                    if "not orphaned" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        worker.start()
        if style == "flow":
            return f"Completed {json.dumps(RemoteFlowHandle(client, run_id).result(timeout=60))}"
        result = client.result(run_id, timeout=60)
        return f"{result.status} {json.dumps(result.final_context.to_dict(), sort_keys=True)}"
    finally:
        worker.stop(timeout=20)
        client.close()


def main(argv: list[str]) -> int:
    global SIDE
    style, version, db, SIDE, mode, *rest = argv
    define(style, version)
    if mode == "start":
        start(style, db)
        return 0
    if mode == "fresh":
        from taskloom.steps import Client

        value = Client(db).run_workflow("DeployOrder", "order-2", {"amount": 6}, timeout=60)
        print(f"Completed {json.dumps(value)}")
        return 0
    try:
        if mode.startswith("dist_"):
            print(distributed(style, db, mode, rest[0] if rest else None), flush=True)
            return 0
        print(finish(style, db, rest[0], policy=mode == "policy"), flush=True)
    except taskloom.AdoptionRefused as exc:
        print(f"Refused: {exc}", flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
