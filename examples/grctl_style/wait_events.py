"""grctl's waiting for events, with a timeout, on taskloom.

The run waits (holding no worker) for ``greet`` and then ``farewell``; if
no event comes within $GRCTL_EXAMPLE_WAIT seconds (default 30) the
``no_reply`` step runs instead. The wait's deadline is recorded, so a
restart does not start it over.

    python wait_events.py              # start, send both events, print the result
    python wait_events.py --no-events  # start and let the wait time out
"""

import asyncio
import json
import logging
import os
import sys
from datetime import timedelta

from _effects import latency, record, workflow_id

from taskloom.compat.grctl.client import Client, Connection, get_logger, setup_logging
from taskloom.compat.grctl.models.errors import WorkflowAlreadyRunningError
from taskloom.compat.grctl.worker import Context, StoreKeyNotFoundError, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

setup_logging(level=logging.INFO)
logger = get_logger(__name__)

WAIT = timedelta(seconds=float(os.environ.get("GRCTL_EXAMPLE_WAIT", "30")))

greet_events = Workflow(workflow_type="GreetEvents")


@task
async def open_session(name: str) -> str:
    record(f"session {name}")
    return f"session-{name}"


@task
async def call_greeting_api(name: str) -> str:
    record(f"greeting-api {name}")
    await asyncio.sleep(latency())
    return f"Hello, {name}!"


@task
async def call_farewell_api(name: str) -> str:
    record(f"farewell-api {name}")
    return f"Goodbye, {name}!"


@task
async def send_reminder(name: str) -> None:
    record(f"reminder {name}")


@greet_events.start()
async def start(ctx: Context, name: str) -> Directive:
    await open_session(name)
    ctx.store.put("name", name)
    ctx.logger.info(f"Initialized workflow for: {name}")
    return ctx.next.wait(timeout=WAIT, on_timeout=no_reply)


@greet_events.event()
async def greet(ctx: Context, title: str) -> Directive:
    name = await ctx.store.get("name", str)
    greeting = await call_greeting_api(f"{title} {name}")
    ctx.store.put("greeting", greeting)
    return ctx.next.wait(timeout=WAIT, on_timeout=no_reply)


@greet_events.event()
async def farewell(ctx: Context, farewell_note: str) -> Directive:
    try:
        greeting = await ctx.store.get("greeting", str)
    except StoreKeyNotFoundError as e:
        raise ValueError("greet event must be handled before farewell") from e
    name = await ctx.store.get("name", str)
    res = await call_farewell_api(name)
    message = f"{greeting} {res} {farewell_note}"
    ctx.logger.info(f"Final message: {message}")
    return ctx.next.complete(message)


@greet_events.step()
async def no_reply(ctx: Context) -> Directive:
    name = await ctx.store.get("name", str)
    await send_reminder(name)
    return ctx.next.complete(f"no reply from {name}")


async def main() -> None:
    connection = await Connection.connect()
    worker = Worker(workflows=[greet_events], connection=connection)
    worker_task = asyncio.create_task(worker.start())
    client = Client(connection=connection)
    wf_id = workflow_id("greet-1")
    try:
        try:
            handle = await client.start_workflow(
                type=greet_events.workflow_type,
                id=wf_id,
                input={"name": "Cem"},
                timeout=timedelta(seconds=120),
            )
            if "--no-events" not in sys.argv:
                await handle.send("greet", {"title": "Mr"})
                await handle.send("farewell", {"farewell_note": "Until next time!"})
                record("events sent")
        except WorkflowAlreadyRunningError:  # started before a crash: its events are recorded
            handle = await client.get_workflow_handle(wf_id)
        result = await asyncio.wait_for(handle.future, timeout=120)
        logger.info(f"Workflow result: {result}")
    finally:
        await worker.stop()
        if not worker_task.done():
            worker_task.cancel()
            await asyncio.gather(worker_task, return_exceptions=True)
    print("result:", json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
