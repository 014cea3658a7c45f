"""grctl's loop of steps on taskloom: 1,000 steps, each one recorded before the next.

A step transitions back to itself until the counter reaches the target
($GRCTL_EXAMPLE_STEPS, default 1000). Killed anywhere, a restart continues
from the last recorded step; completed increments never run again.
"""

import asyncio
import json
import logging
import os
from datetime import timedelta

from _effects import record, workflow_id

from taskloom.compat.grctl.client import Client, Connection, get_logger, setup_logging
from taskloom.compat.grctl.models.errors import WorkflowAlreadyRunningError
from taskloom.compat.grctl.worker import Context, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

setup_logging(level=logging.WARNING)
logger = get_logger(__name__)

TARGET = int(os.environ.get("GRCTL_EXAMPLE_STEPS", "1000"))

ltl = Workflow(workflow_type="LoopTheLoop")


@task
async def incr(c: int) -> int:
    record(f"incr {c}")
    return c + 1


@ltl.start()
async def start(ctx: Context, start: int) -> Directive:
    ctx.store.put("c", start)
    return ctx.next.step(incr_step)


@ltl.step()
async def incr_step(ctx: Context) -> Directive:
    c = await ctx.store.get("c", int)
    c = await incr(c)
    ctx.store.put("c", c)
    if c >= TARGET:
        return ctx.next.complete(c)
    return ctx.next.step(incr_step)


async def main() -> None:
    connection = await Connection.connect()
    worker = Worker(workflows=[ltl], connection=connection)
    worker_task = asyncio.create_task(worker.start())
    client = Client(connection=connection)
    wf_id = workflow_id("loop-1")
    try:
        try:
            handle = await client.start_workflow(
                type=ltl.workflow_type, id=wf_id, input={"start": 0}, timeout=timedelta(minutes=5)
            )
        except WorkflowAlreadyRunningError:
            handle = await client.get_workflow_handle(wf_id)
        result = await asyncio.wait_for(handle.future, timeout=300)
        logger.info(f"Workflow result: {result}")
    finally:
        await worker.stop()
        if not worker_task.done():
            worker_task.cancel()
            await asyncio.gather(worker_task, return_exceptions=True)
    print("result:", json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
