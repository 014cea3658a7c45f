"""Flows and step workflows executed by ``taskloom worker`` processes in
test_postgres_distributed_styles.py.

Task bodies append ``TAG NAME PID`` to ``$TASKLOOM_SIDE_FILE`` when they
finish, so the tests count what really ran, outside the engine.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from taskloom import fan_out, flow, task
from taskloom.steps import Context, Directive, Workflow


def note(tag: str, name: str) -> None:
    path = os.environ.get("TASKLOOM_SIDE_FILE")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{tag} {name} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


@task
def square(x: int, tag: str, pause: float) -> int:
    time.sleep(pause)
    note(tag, f"square{x}")
    return x * x


@task
def total(values: list[int], tag: str) -> int:
    note(tag, "total")
    return sum(values)


@task
def boom(tag: str) -> int:
    note(tag, "boom")
    raise ValueError(f"boom in {tag}")


@task
def timed(spec: list[Any]) -> int:
    """Sleeps ``pause`` and appends ``TAG spanX PID START END`` to the side file."""
    x, tag, pause = spec
    start = time.time()
    time.sleep(pause)
    end = time.time()
    note(tag, f"span{x} {os.getpid()} {start} {end}")
    return int(x)


@flow
def spans(n: int, tag: str, pause: float) -> list[int]:
    """n independent timed calls (a run-level max_concurrency applies to all)."""
    return [timed([i, tag, pause]) for i in range(n)]


@flow
def limited_fan(n: int, tag: str, pause: float) -> int:
    """A fan_out of n timed calls, at most 2 at once, and 2 unlimited calls beside it."""
    parts = fan_out(timed, [[i, tag, pause] for i in range(n)], max_concurrency=2)
    free = [timed([100 + i, tag, pause]) for i in range(2)]
    return total([*parts, *free], tag)


@task
def specs(n: int, tag: str, pause: float) -> list[list[Any]]:
    """The items of a dynamic fan_out: one ``timed`` spec per call."""
    note(tag, "specs")
    return [[i, tag, pause] for i in range(n)]


@task
def label(spec: list[Any]) -> str:
    x, tag, _ = spec
    note(tag, f"label{x}")
    return f"{tag}-{x}"


@task
def scalar(tag: str) -> int:
    note(tag, "scalar")
    return 7


@task
def picky(spec: list[Any]) -> int:
    """A fan_out call that fails for item 1."""
    x, tag, _ = spec
    note(tag, f"picky{x}")
    if x == 1:
        raise ValueError(f"picky {tag} {x}")
    return int(x)


@flow
def dynamic_fan(n: int, tag: str, pause: float, limit: int | None = None) -> dict[str, Any]:
    """A fan_out over a node's result: its calls exist once ``specs`` has run."""
    parts = fan_out(timed, specs(n, tag, pause), max_concurrency=limit)
    return {"parts": parts, "total": total(parts, tag)}


@flow
def twin_fans(n: int, tag: str) -> list[Any]:
    """Two fan-outs over the same upstream node."""
    listed = specs(n, tag, 0.0)
    return [fan_out(timed, listed), fan_out(label, listed)]


@flow
def picky_fan(n: int, tag: str) -> dict[str, Any]:
    """A dynamic fan_out with one failing call."""
    parts = fan_out(picky, specs(n, tag, 0.0))
    return {"parts": parts, "total": total(parts, tag)}


@flow
def scalar_fan(tag: str) -> Any:
    """A fan_out over a result that is not iterable: its collector fails."""
    return fan_out(timed, scalar(tag))


@flow
def squares(n: int, tag: str, pause: float = 0.0) -> dict[str, Any]:
    parts = [square(i, tag, pause) for i in range(n)]
    return {"total": total(parts, tag), "parts": parts}


@flow
def chain(tag: str, pause: float) -> int:
    """first -> slow -> last: the test kills the worker running ``slow``."""
    first = square(1, tag, 0.0)
    slow = square(2, tag, pause)
    return total([first, slow, square(3, tag, 0.0)], tag)


@flow
def failing(tag: str) -> list[int]:
    bad = boom(tag)
    return [bad, total([square(4, tag, 0.0), bad], tag)]


order = Workflow(workflow_type="pg_order")


@task
async def charge(amount: float, tag: str) -> str:
    note(tag, "charge")
    return f"txn-{tag}"


@task
def confirm(txn: str, tag: str, pause: float) -> None:
    time.sleep(pause)  # sync: runs in the worker's thread pool, the loop stays free
    note(tag, "confirm")


@order.start()
async def begin(ctx: Context, amount: float, tag: str, pause: float = 0.0) -> Directive:
    txn = await charge(amount, tag)
    ctx.store.put("txn", txn)
    ctx.store.put("tag", tag)
    ctx.store.put("pause", pause)
    return ctx.next.wait(timeout=timedelta(seconds=60))


@order.event("approve")
async def approve(ctx: Context, by: str) -> Directive:
    txn = await ctx.store.get("txn")
    tag = await ctx.store.get("tag")
    await confirm(txn, tag, await ctx.store.get("pause"))
    return ctx.next.complete({"txn": txn, "by": by})


@task
def whoami(tag: str) -> list[Any]:
    from taskloom import get_context

    ctx = get_context()
    note(tag, "whoami")
    return [ctx.run_id, ctx.flow_name, ctx.task_name, ctx.node, ctx.attempt, ctx.params]


@flow
def context_flow(tag: str) -> Any:
    return whoami(tag)
