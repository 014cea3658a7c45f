"""grctl's orchestrator of two child workflows, in grctl's earlier spellings, on taskloom.

``@wf.step(start=True)``, ``@wf.step(event=True, name=...)``, ``ctx.store.set``,
``grctl.nats.Connection`` and ``worker.run()`` are grctl's earlier API; they
work as the current one does. The orchestrator starts two children and
waits for both to report with ``send_to_parent``.
"""

import asyncio
import json
import logging
from datetime import timedelta

from _effects import latency, record, workflow_id

from taskloom.compat.grctl.client import Client, setup_logging
from taskloom.compat.grctl.models.errors import WorkflowAlreadyRunningError
from taskloom.compat.grctl.nats import Connection
from taskloom.compat.grctl.worker import Context, StoreKeyNotFoundError, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

setup_logging(level=logging.INFO)
logger = logging.getLogger(__name__)

task_a_wf = Workflow(workflow_type="TaskA")
task_b_wf = Workflow(workflow_type="TaskB")
orchestrator_wf = Workflow(workflow_type="Orchestrator")


@task
async def compute_a(input_data: str) -> str:
    record(f"compute-a {input_data}")
    return f"result-a-{input_data}"


@task
async def compute_b(input_data: str) -> str:
    record(f"compute-b {input_data}")
    await asyncio.sleep(latency())
    return f"result-b-{input_data}"


@task_a_wf.step(start=True)
async def task_a_start(ctx: Context, input_data: str) -> Directive:
    ctx.store.set("input_data", input_data)
    return ctx.next.step(task_a_process)


@task_a_wf.step()
async def task_a_process(ctx: Context) -> Directive:
    result = await compute_a(await ctx.store.get("input_data", str))
    await ctx.send_to_parent(event_name="task_a_completed", payload={"result": result})
    return ctx.next.complete({"result": result})


@task_b_wf.step(start=True)
async def task_b_start(ctx: Context, input_data: str) -> Directive:
    ctx.store.set("input_data", input_data)
    return ctx.next.step(task_b_process)


@task_b_wf.step()
async def task_b_process(ctx: Context) -> Directive:
    result = await compute_b(await ctx.store.get("input_data", str))
    await ctx.send_to_parent(event_name="task_b_completed", payload={"result": result})
    return ctx.next.complete({"result": result})


@orchestrator_wf.step(start=True)
async def orchestrator_start(ctx: Context, input_a: str, input_b: str) -> Directive:
    ctx.store.set("input_a", input_a)
    ctx.store.set("input_b", input_b)
    handle_a = await ctx.start_child(
        task_a_wf.workflow_type,
        workflow_id=f"{ctx.run.wf_id}-a",
        workflow_input={"input_data": input_a},
        workflow_timeout=timedelta(minutes=1),
    )
    handle_b = await ctx.start_child(
        task_b_wf.workflow_type,
        workflow_id=f"{ctx.run.wf_id}-b",
        workflow_input={"input_data": input_b},
        workflow_timeout=timedelta(minutes=1),
    )
    ctx.logger.info("Started children %s and %s", handle_a.run_info.id, handle_b.run_info.id)
    return ctx.next.wait()


@orchestrator_wf.step(event=True, name="task_a_completed")
async def on_task_a_completed(ctx: Context, result: str) -> Directive:
    ctx.store.set("task_a_result", result)
    try:
        await ctx.store.get("task_b_result", str)
    except StoreKeyNotFoundError:
        return ctx.next.wait()
    return await _finish_orchestrator(ctx)


@orchestrator_wf.step(event=True, name="task_b_completed")
async def on_task_b_completed(ctx: Context, result: str) -> Directive:
    ctx.store.set("task_b_result", result)
    try:
        await ctx.store.get("task_a_result", str)
    except StoreKeyNotFoundError:
        return ctx.next.wait()
    return await _finish_orchestrator(ctx)


async def _finish_orchestrator(ctx: Context) -> Directive:
    a = await ctx.store.get("task_a_result", str)
    b = await ctx.store.get("task_b_result", str)
    return ctx.next.complete(f"Orchestrator completed: {a}, {b}")


async def main() -> None:
    connection = await Connection.connect()
    worker = Worker(workflows=[orchestrator_wf, task_a_wf, task_b_wf], connection=connection)
    worker_task = asyncio.create_task(worker.run())
    client = Client(connection=connection)
    wf_id = workflow_id("orchestrator-1")
    try:
        try:
            handle = await client.start_workflow(
                type=orchestrator_wf.workflow_type,
                id=wf_id,
                input={"input_a": "hello", "input_b": "world"},
                timeout=timedelta(seconds=60),
            )
        except WorkflowAlreadyRunningError:
            handle = await client.get_workflow_handle(wf_id)
        result = await asyncio.wait_for(handle.future, timeout=60)
        logger.info(f"Orchestrator workflow result: {result}")
    finally:
        await worker.stop()
        if not worker_task.done():
            worker_task.cancel()
            await asyncio.gather(worker_task, return_exceptions=True)
    print("result:", json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
