"""grctl's hello world on taskloom: only the imports differ (and no server runs).

    python hello_world.py           # records in ./taskloom.db ($TASKLOOM_DATABASE_URL)

Kill it in the middle and run it again: the recorded greeting is reused and
the run finishes.
"""

import asyncio
import json
import logging
from datetime import timedelta

from _effects import latency, record, workflow_id

from taskloom.compat.grctl.client import Client, Connection, get_logger, setup_logging
from taskloom.compat.grctl.models.errors import WorkflowAlreadyRunningError
from taskloom.compat.grctl.worker import Context, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

setup_logging(level=logging.INFO)
logger = get_logger(__name__)

hello = Workflow(workflow_type="Hello")


@task
async def call_greeting_api(name: str) -> str:
    record(f"greeting-api {name}")
    return f"Hello, {name}!"


@task
async def deliver_greeting(message: str) -> str:
    record(f"deliver {message}")
    await asyncio.sleep(latency())
    return "delivered"


@hello.start()
async def start(ctx: Context, name: str) -> Directive:
    ctx.logger.info(f"Initialized workflow for: {name}")
    ctx.store.put("name", name)
    greeting = await call_greeting_api(name)
    ctx.store.put("message", greeting)
    await deliver_greeting(greeting)
    return ctx.next.complete(greeting)


async def main() -> None:
    connection = await Connection.connect()
    worker = Worker(workflows=[hello], connection=connection)
    worker_task = asyncio.create_task(worker.start())
    client = Client(connection=connection)
    wf_id = workflow_id("hello-1")
    try:
        try:
            result = await client.run_workflow(
                type=hello.workflow_type,
                id=wf_id,
                input={"name": "World"},
                timeout=timedelta(seconds=60),
            )
        except WorkflowAlreadyRunningError:  # started before a crash: follow that run
            handle = await client.get_workflow_handle(wf_id)
            result = await asyncio.wait_for(handle.future, timeout=60)
        logger.info(f"Workflow result: {result}")
    finally:
        await worker.stop()
        if not worker_task.done():
            worker_task.cancel()
            await asyncio.gather(worker_task, return_exceptions=True)
    print("result:", json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
