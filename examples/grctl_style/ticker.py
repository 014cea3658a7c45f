"""grctl's ticker on taskloom: a worker process and a client process share one journal.

    python ticker.py worker   # serve the Ticker workflow until stopped (Ctrl-C)
    python ticker.py start    # record a run for the workers, and exit
    python ticker.py result   # wait for the run's result and print it

The tick step has a ``timedelta`` timeout, as in grctl. Kill the worker in
the middle and start another: ticks already recorded are not ticked again.
"""

import asyncio
import json
import logging
import os
import sys
from datetime import timedelta

from _effects import record, workflow_id

from taskloom.compat.grctl.client import Client, Connection, get_logger, setup_logging
from taskloom.compat.grctl.worker import Context, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

setup_logging(level=logging.INFO)
logger = get_logger(__name__)

ticker = Workflow(workflow_type="Ticker")

WORKFLOW_ID = workflow_id("ticker-workflow")
ITERATIONS = 10
TICK = timedelta(seconds=float(os.environ.get("GRCTL_EXAMPLE_TICK", "1")))


@task
async def tick(iteration: int) -> int:
    record(f"tick {iteration}")
    await asyncio.sleep(TICK.total_seconds())
    return iteration


@ticker.start()
async def start(ctx: Context, iterations: int) -> Directive:
    ctx.logger.info(f"Starting tick step with {iterations} iterations")
    ctx.store.put("iterations", iterations)
    return ctx.next.step(tick_step)


@ticker.step(timeout=timedelta(seconds=60))
async def tick_step(ctx: Context) -> Directive:
    iterations = await ctx.store.get("iterations", int)
    for i in range(iterations):
        await tick(i)
        ctx.logger.info(f"Tick iteration: {i}")
    return ctx.next.complete(iterations)


async def run_worker() -> None:
    logger.info("Starting worker...")
    connection = await Connection.connect()
    worker = Worker(workflows=[ticker], connection=connection)
    try:
        await worker.start()
    except asyncio.CancelledError:
        logger.info("Worker stopped.")
        await worker.stop()


async def run_start() -> None:
    connection = await Connection.connect()
    client = Client(connection=connection)
    await client.start_workflow(
        type=ticker.workflow_type,
        id=WORKFLOW_ID,
        input={"iterations": ITERATIONS},
        timeout=timedelta(seconds=300),
    )
    logger.info(f"Workflow {WORKFLOW_ID} submitted.")
    await connection.close()


async def run_result() -> None:
    connection = await Connection.connect()
    handle = await Client(connection=connection).get_workflow_handle(WORKFLOW_ID)
    result = await handle.result(timeout=300)
    print("result:", json.dumps(result))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "worker"
    if mode == "start":
        asyncio.run(run_start())
    elif mode == "worker":
        asyncio.run(run_worker())
    elif mode == "result":
        asyncio.run(run_result())
    else:
        raise SystemExit("Usage: python ticker.py [worker|start|result]")
