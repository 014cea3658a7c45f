"""One workload per style whose task bodies log every execution outside the engine.

Used by the fault-injection suite (``tests/faults``): as a runner process on
SQLite (``styles_app.py DB SIDE_DIR start BATCH RUNS`` / ``resume``), and as
the module ``taskloom worker --import`` loads on PostgreSQL (the test process
loads it too, as a client, so that the workflow versions match).

Each body appends ``start PID`` when it begins and ``end PID`` before it
returns to ``$TASKLOOM_FAULT_SIDE/<tag>.<name>``, and one byte to
``$TASKLOOM_FAULT_SIDE/progress`` (what the test counts to choose its moment
to kill). The files are opened with ``O_APPEND`` and written with one
``write``: a line written before a SIGKILL survives it (the page cache is
the kernel's, not the process's). ``<name>`` is the journal key of the task
(DAG task id, flow node key) or the step operation's task name.

A task named in ``$TASKLOOM_FAULT_SIDE/hold.<name>`` (a file) waits in its
body until ``release.<name>`` exists: the SIGSTOP test freezes a worker
while it is sure to hold the task.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import zlib
from typing import Any

if __name__ == "__main__":
    # Run under its own module name (a workflow's version hashes its tasks'
    # module), and never define the workloads twice.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import styles_app

    sys.exit(styles_app.main(sys.argv[1:]))

from taskloom import Context, DefaultRunner, WorkflowBuilder, flow, task
from taskloom.steps import Client as StepClient
from taskloom.steps import Context as StepContext
from taskloom.steps import Directive, Workflow

SIDE_ENV = "TASKLOOM_FAULT_SIDE"
STYLES = ("dag", "flow", "steps")
_WAIT_S = 120.0


# --------------------------------------------------------------------------- side effects


def _append(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def begin(tag: str, name: str) -> None:
    """Log the start of a sync body; wait here while the task is held."""
    if _log_start(tag, name):
        deadline = time.monotonic() + _WAIT_S
        while _held(name) and time.monotonic() < deadline:
            time.sleep(0.01)


async def abegin(tag: str, name: str) -> None:
    """Log the start of an async body; wait (without blocking the loop) while it is held."""
    if _log_start(tag, name):
        deadline = time.monotonic() + _WAIT_S
        while _held(name) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)


def _log_start(tag: str, name: str) -> bool:
    side = os.environ.get(SIDE_ENV)
    if not side:
        return False
    _append(os.path.join(side, f"{tag}.{name}"), f"start {os.getpid()}\n")
    _append(os.path.join(side, "progress"), "s")
    return True


def _held(name: str) -> bool:
    side = os.environ[SIDE_ENV]
    return os.path.exists(os.path.join(side, f"hold.{name}")) and not os.path.exists(
        os.path.join(side, f"release.{name}")
    )


def end(tag: str, name: str) -> None:
    side = os.environ.get(SIDE_ENV)
    if side:
        _append(os.path.join(side, f"{tag}.{name}"), f"end {os.getpid()}\n")


def pause(tag: str, name: str) -> float:
    """A few milliseconds of work, the same for a task in every execution."""
    return (zlib.crc32(f"{tag}.{name}".encode()) % 19 + 2) / 1000


def digest(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode()) % 1000


# --------------------------------------------------------------------------- DAG


DAG = "fault_dag"
DAG_SHAPE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("a", ()),
    ("b0", ("a",)),
    ("b1", ("a",)),
    ("b2", ("a",)),
    ("b3", ("a",)),
    ("c", ("b0", "b1", "b2", "b3")),
    ("d0", ("c",)),
    ("d1", ("c",)),
    ("e", ("d0", "d1")),
)


def _dag_body(name: str, deps: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def body(ctx: Context) -> Context:
        tag = str(ctx.get("tag"))
        begin(tag, name)
        time.sleep(pause(tag, name))
        ctx.set(name, digest(tag, name, *(ctx.get(d) for d in deps)))
        end(tag, name)
        return ctx

    body.__name__ = body.__qualname__ = f"{name}_body"
    return body


with WorkflowBuilder(DAG) as _dag:
    _dag.description("fault suite: a fan-out, a join, a second fan-out, a join")
    for _name, _deps in DAG_SHAPE:
        _dag.add_task(task(id=_name, dependencies=list(_deps))(_dag_body(_name, _deps)))


# --------------------------------------------------------------------------- dataflow


@task
def fl_load(tag: str) -> int:
    begin(tag, "fl_load#0")
    time.sleep(pause(tag, "fl_load"))
    value = digest(tag, "load")
    end(tag, "fl_load#0")
    return value


@task
def fl_square(tag: str, i: int, base: int) -> int:
    name = f"fl_square#{i}"
    begin(tag, name)
    time.sleep(pause(tag, name))
    end(tag, name)
    return (base + i) ** 2


@task
async def fl_total(tag: str, parts: list[int]) -> int:
    await abegin(tag, "fl_total#0")
    await asyncio.sleep(pause(tag, "fl_total"))
    end(tag, "fl_total#0")
    return sum(parts)


@task
def fl_report(tag: str, total: int, base: int) -> dict[str, Any]:
    begin(tag, "fl_report#0")
    time.sleep(pause(tag, "fl_report"))
    end(tag, "fl_report#0")
    return {"tag": tag, "total": total, "base": base}


@flow(name="fault_flow")
def fault_flow(tag: str) -> dict[str, Any]:
    base = fl_load(tag)
    parts = [fl_square(tag, i, base) for i in range(4)]
    return fl_report(tag, fl_total(tag, parts), base)


# --------------------------------------------------------------------------- steps


STEPS = "FaultSteps"
steps_workflow = Workflow(workflow_type=STEPS)


@task
async def st_charge(tag: str, amount: int) -> int:
    await abegin(tag, "st_charge")
    await asyncio.sleep(pause(tag, "st_charge"))
    end(tag, "st_charge")
    return amount * 3


@task
def st_reserve(tag: str, units: int) -> str:
    begin(tag, "st_reserve")
    time.sleep(pause(tag, "st_reserve"))
    end(tag, "st_reserve")
    return f"{tag}-r{units}"


@task
async def st_ship(tag: str, ref: str) -> str:
    await abegin(tag, "st_ship")
    await asyncio.sleep(pause(tag, "st_ship"))
    end(tag, "st_ship")
    return f"{ref}-shipped"


@task
def st_notify(tag: str, text: str) -> int:
    begin(tag, "st_notify")
    time.sleep(pause(tag, "st_notify"))
    end(tag, "st_notify")
    return len(text)


@steps_workflow.start()
async def st_start(ctx: StepContext, tag: str, amount: int) -> Directive:
    charged = await st_charge(tag, amount)
    ref = await st_reserve(tag, charged)
    ctx.store.put("tag", tag)
    ctx.store.put("ref", ref)
    ctx.store.put("charged", charged)
    return ctx.next.step(st_finish)


@steps_workflow.step()
async def st_finish(ctx: StepContext) -> Directive:
    tag = await ctx.store.get("tag")
    ref = await ctx.store.get("ref")
    shipped = await st_ship(tag, ref)
    sent = await st_notify(tag, shipped)
    charged = await ctx.store.get("charged")
    return ctx.next.complete({"tag": tag, "shipped": shipped, "sent": sent, "charged": charged})


# --------------------------------------------------------------------------- runs


def tags(batch: int, runs: int) -> dict[str, list[str]]:
    """The run tags of a batch, per style: unique, and easy to find in a run's input."""
    return {style: [f"T{style[0]}{batch:03d}{i:02d}Z" for i in range(runs)] for style in STYLES}


def step_input(tag: str) -> dict[str, Any]:
    return {"tag": tag, "amount": digest(tag) + 1}


def start_batch(db: str, batch: int, runs: int) -> None:
    """Start every run of a batch in this process and wait for them all."""
    batch_tags = tags(batch, runs)
    errors: list[BaseException] = []

    def flow_run(tag: str) -> None:
        try:
            fault_flow.run(tag, db=db)
        except BaseException as exc:
            errors.append(exc)

    with DefaultRunner(db) as runner:
        handles = [runner.start(DAG, {"tag": tag}) for tag in batch_tags["dag"]]
        threads = [threading.Thread(target=flow_run, args=(t,)) for t in batch_tags["flow"]]
        for thread in threads:
            thread.start()
        client = StepClient(db)
        steps = [client.start_workflow(STEPS, t, step_input(t)) for t in batch_tags["steps"]]
        for handle in handles:
            assert handle.result(timeout=_WAIT_S).status == "Completed"
        for step in steps:
            step.result(timeout=_WAIT_S)
        for thread in threads:
            thread.join(_WAIT_S)
    if errors:
        raise errors[0]


def resume_all(db: str) -> None:
    """Resume every unfinished run of the journal here and wait for them all."""
    with DefaultRunner(db) as runner:
        for run in runner.journal.unfinished_runs():
            result = runner.result(run.run_id, timeout=_WAIT_S)
            assert result.status == "Completed", (run.run_id, result.status, result.error_message)


def hammer(db: str, seconds: float, process: int, threads: int = 4) -> dict[str, Any]:
    """Start and finish runs from ``threads`` threads for ``seconds``; what happened.

    Thread ``i`` runs style ``STYLES[i % 3]``; every run must complete. Any
    exception (a "database is locked" above all) is collected, not raised.
    """
    done: dict[str, int] = dict.fromkeys(STYLES, 0)
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    with DefaultRunner(db) as runner:
        client = StepClient(db)

        def loop(index: int) -> None:
            style = STYLES[index % len(STYLES)]
            n = 0
            while time.monotonic() < deadline:
                tag = f"T{style[0]}{process}{index}{n:03d}Z"
                n += 1
                try:
                    if style == "dag":
                        status = runner.execute(DAG, {"tag": tag}).status
                        assert status == "Completed", status
                    elif style == "flow":
                        fault_flow.run(tag, db=db)
                    else:
                        client.run_workflow(STEPS, tag, step_input(tag))
                except BaseException as exc:
                    with lock:
                        errors.append(f"{style} {tag}: {type(exc).__name__}: {exc}")
                    return
                with lock:
                    done[style] += 1

        workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return {"runs": done, "errors": errors}


def main(argv: list[str]) -> int:
    db, side, mode, *rest = argv
    os.environ[SIDE_ENV] = side
    if mode == "start":
        start_batch(db, int(rest[0]), int(rest[1]))
    elif mode == "resume":
        resume_all(db)
    elif mode == "hammer":
        print(json.dumps(hammer(db, float(rest[0]), int(rest[1]))), flush=True)
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    return 0
