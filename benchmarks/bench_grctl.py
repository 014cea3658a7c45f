"""grctl-style programs on taskloom (SQLite), through the ``taskloom.compat.grctl`` twins.

Usage: python benchmarks/bench_grctl.py [--repeats 5] [--out FILE.json]

Cases, each a run recorded by grctl's ``Client`` and executed by a ``Worker``
of the same process: hello world (start to result), grctl's loop of 1,000
steps (one task each), and a loop fed by 100 events (ten tasks each).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from common import report

from taskloom.compat.grctl.client import Client, Connection
from taskloom.compat.grctl.worker import Context, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

hello = Workflow(workflow_type="BenchHello")
loop = Workflow(workflow_type="BenchLoopTheLoop")
events = Workflow(workflow_type="BenchLoopTheEvent")


@task
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@task
async def incr(c: int) -> int:
    return c + 1


@hello.start()
async def hello_start(ctx: Context, name: str) -> Directive:
    return ctx.next.complete(await greet(name))


@loop.start()
async def loop_start(ctx: Context, start: int) -> Directive:
    ctx.store.put("c", start)
    return ctx.next.step(loop_step)


@loop.step()
async def loop_step(ctx: Context) -> Directive:
    c = await incr(await ctx.store.get("c", int))
    ctx.store.put("c", c)
    return ctx.next.complete(c) if c >= 1000 else ctx.next.step(loop_step)


@events.start()
async def events_start(ctx: Context) -> Directive:
    ctx.store.put("c", 0)
    return ctx.next.wait()


@events.event()
async def add_ten(ctx: Context) -> Directive:
    c = await ctx.store.get("c", int)
    for _ in range(10):
        c = await incr(c)
    ctx.store.put("c", c)
    return ctx.next.complete(c) if c >= 1000 else ctx.next.wait()


async def bench(db: str, repeats: int) -> dict[str, dict[str, Any]]:
    connection = await Connection.connect(db)
    worker = Worker(workflows=[hello, loop, events], connection=connection)
    serving = asyncio.create_task(worker.start())
    client = Client(connection)
    ids = itertools.count()

    async def hello_world() -> None:
        await client.run_workflow(type="BenchHello", id=f"h{next(ids)}", input={"name": "W"})

    async def loop_of_steps() -> None:
        await client.run_workflow(type="BenchLoopTheLoop", id=f"l{next(ids)}", input={"start": 0})

    async def loop_of_events() -> None:
        handle = await client.start_workflow(type="BenchLoopTheEvent", id=f"e{next(ids)}")
        for _ in range(100):
            await handle.send("add_ten")
        await handle.result()

    async def timed(fn: Callable[[], Awaitable[None]], n: int) -> dict[str, float]:
        """``common.measure`` for a coroutine: one warm-up, then ``n`` timed runs."""
        await fn()
        samples = []
        for _ in range(n):
            began = time.perf_counter()
            await fn()
            samples.append(time.perf_counter() - began)
        return {
            "median_s": statistics.median(samples),
            "min_s": min(samples),
            "max_s": max(samples),
            "repeats": n,
        }

    try:
        cases = {
            "hello world: start to result": await timed(hello_world, max(repeats, 50)),
            "loop of 1,000 steps (one task each)": await timed(loop_of_steps, repeats),
            "loop fed by 100 events (10 tasks each)": await timed(loop_of_events, repeats),
        }
    finally:
        await worker.stop()
        await serving
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = asyncio.run(bench(f"sqlite:///{Path(tmp) / 'bench.db'}", args.repeats))
    report("grctl", cases, args.out)


if __name__ == "__main__":
    main()
