"""grctl's loop fed by events on taskloom: every ``incr_step`` event adds ten.

The client sends all the events at once; they wait in the run's inbox
(recorded) and are handled one per wait, in order, until the counter
reaches 1000. Killed in the middle, a restart handles the rest.
"""

import asyncio
import json
import logging
from datetime import timedelta

from _effects import record, workflow_id

from taskloom.compat.grctl.client import Client, Connection, get_logger, setup_logging
from taskloom.compat.grctl.models.errors import WorkflowAlreadyRunningError
from taskloom.compat.grctl.worker import Context, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

setup_logging(level=logging.WARNING)
logger = get_logger(__name__)

TARGET = 1000

lte = Workflow(workflow_type="LoopTheEvent")


@task
async def incr(c: int) -> int:
    record(f"incr {c}")
    return c + 1


@lte.start()
async def start(ctx: Context, start_count: int) -> Directive:
    ctx.store.put("c", start_count)
    return ctx.next.wait()


@lte.event()
async def incr_step(ctx: Context) -> Directive:
    c = await ctx.store.get("c", int)
    for _ in range(10):
        c = await incr(c)
        ctx.store.put("c", c)
    if c >= TARGET:
        return ctx.next.complete(c)
    return ctx.next.wait()


async def main() -> None:
    connection = await Connection.connect()
    worker = Worker(workflows=[lte], connection=connection)
    worker_task = asyncio.create_task(worker.start())
    client = Client(connection=connection)
    wf_id = workflow_id("loop-events-1")
    try:
        try:
            handle = await client.start_workflow(
                type=lte.workflow_type,
                id=wf_id,
                input={"start_count": 0},
                timeout=timedelta(minutes=5),
            )
            for _ in range(TARGET // 10):
                await handle.send("incr_step")
            record("events sent")
        except WorkflowAlreadyRunningError:  # the events sent before a crash are recorded
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
