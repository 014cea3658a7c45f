"""Child step workflows executed by ``taskloom worker`` processes in
test_postgres_children.py (the test process also runs them locally, to
compare).

Task bodies append ``TAG NAME PID`` to ``$TASKLOOM_SIDE_FILE`` when they
finish, so the tests count what really ran, outside the engine.
"""

from __future__ import annotations

import asyncio
import os
import time

from taskloom import task
from taskloom.steps import Context, Directive, ErrorDetails, Workflow, WorkflowFailed


def note(tag: str, name: str) -> None:
    path = os.environ.get("TASKLOOM_SIDE_FILE")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{tag} {name} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


@task
def work(n: int, tag: str, pause: float) -> int:
    time.sleep(pause)  # sync: runs in the worker's thread pool, the loop stays free
    note(tag, f"work{n}")
    return n * 10


@task
def mark(tag: str, name: str, pause: float) -> str:
    time.sleep(pause)
    note(tag, name)
    return name


child = Workflow(workflow_type="pgc_child")


@child.start()
async def child_start(ctx: Context, n: int, tag: str, pause: float = 0.0) -> Directive:
    if n < 0:
        return ctx.next.fail(ErrorDetails(type="Negative", message=f"{n} < 0"))
    return ctx.next.complete(await work(n, tag, pause))


parent = Workflow(workflow_type="pgc_parent")


@parent.start()
async def parent_start(
    ctx: Context, tag: str, pause: float = 0.0, parent_pause: float = 0.0
) -> Directive:
    """An operation, a detached child, a slow operation, then two awaited children."""
    before = await mark(tag, "before", 0.0)
    detached = await ctx.start_child(child, input={"n": 7, "tag": tag})
    await mark(tag, "slow", parent_pause)
    a = await ctx.run_child(child, input={"n": 1, "tag": tag, "pause": pause})
    b = await ctx.run_child("pgc_child", workflow_id=f"{tag}-named", input={"n": 2, "tag": tag})
    return ctx.next.complete({"before": before, "detached": detached, "a": a, "b": b})


nest = Workflow(workflow_type="pgc_nest")


@nest.start()
async def nest_start(ctx: Context, depth: int) -> Directive:
    """A chain of ``depth`` nested children: each level waits for the one below."""
    if depth == 0:
        return ctx.next.complete([ctx.workflow_id])
    below = await ctx.run_child(nest, input={"depth": depth - 1})
    return ctx.next.complete([ctx.workflow_id, *below])


fan = Workflow(workflow_type="pgc_fan")


@fan.start()
async def fan_start(ctx: Context, tag: str, count: int) -> Directive:
    results = await asyncio.gather(
        *(ctx.run_child(child, input={"n": i, "tag": tag, "pause": 0.05}) for i in range(count))
    )
    return ctx.next.complete(list(results))


catch = Workflow(workflow_type="pgc_catch")


@catch.start()
async def catch_start(ctx: Context, tag: str) -> Directive:
    try:
        await ctx.run_child(child, input={"n": -1, "tag": tag})
    except WorkflowFailed as exc:
        return ctx.next.complete([exc.details.type, exc.details.message])
    return ctx.next.complete("no error")


uncaught = Workflow(workflow_type="pgc_uncaught")


@uncaught.start()
async def uncaught_start(ctx: Context, tag: str) -> Directive:
    await ctx.run_child(child, input={"n": -2, "tag": tag})
    return ctx.next.complete(None)


waiter = Workflow(workflow_type="pgc_waiter")


@waiter.start()
async def waiter_start(ctx: Context) -> Directive:
    return ctx.next.wait()


@waiter.event("go")
async def waiter_go(ctx: Context) -> Directive:
    return ctx.next.complete("went")


tree = Workflow(workflow_type="pgc_tree")


@tree.start()
async def tree_start(ctx: Context, depth: int) -> Directive:
    """A detached waiting child at every level, and a chain of ``depth`` awaited children
    ending in a run that waits for an event."""
    if depth == 0:
        return ctx.next.wait()
    await ctx.start_child(waiter)
    return ctx.next.complete(await ctx.run_child(tree, input={"depth": depth - 1}))


@tree.event("go")
async def tree_go(ctx: Context) -> Directive:
    return ctx.next.complete("leaf")


watcher = Workflow(workflow_type="pgc_watcher")


@watcher.start()
async def watcher_start(ctx: Context) -> Directive:
    """Waits for a child that the test cancels: the parent sees the cancellation."""
    try:
        await ctx.run_child(waiter, workflow_id=f"{ctx.workflow_id}-kid")
    except WorkflowFailed as exc:
        return ctx.next.complete(exc.details.type)
    return ctx.next.complete("child completed")
