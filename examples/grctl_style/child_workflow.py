"""grctl's parent and child workflows on taskloom, the child reporting with send_to_parent.

The order starts a payment child and waits; the child charges, records the
transaction and sends ``payment_completed`` to its parent (exactly once,
even if it is re-executed after a crash), which completes the order.
"""

import asyncio
import json
import logging
from datetime import timedelta

from _effects import latency, record, workflow_id

from taskloom.compat.grctl.client import Client, Connection, setup_logging
from taskloom.compat.grctl.models.errors import WorkflowAlreadyRunningError
from taskloom.compat.grctl.worker import Context, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

setup_logging(level=logging.INFO)
logger = logging.getLogger(__name__)

payment_wf = Workflow(workflow_type="Payment")
order_wf = Workflow(workflow_type="Order")


@task
async def validate_order(order_id: str, amount: float) -> tuple[str, float]:
    record(f"validate {order_id}")
    return (order_id, amount)


@task
async def process_payment(amount: float, transaction_id: str) -> str:
    record(f"charge {amount} {transaction_id}")
    return transaction_id


@task
async def record_transaction(transaction_id: str, amount: float) -> str:
    record(f"ledger {transaction_id}")
    await asyncio.sleep(latency())
    return "success"


# -- PAYMENT WORKFLOW (child) ------------------------------------------------


@payment_wf.start()
async def payment_start(ctx: Context, amount: float) -> Directive:
    ctx.store.put("amount", amount)
    ctx.logger.info(f"Payment workflow started for amount ${amount}")
    return ctx.next.step(payment_process)


@payment_wf.step()
async def payment_process(ctx: Context) -> Directive:
    amount = await ctx.store.get("amount", float)
    transaction_id = await process_payment(amount, f"txn-{(await ctx.uuid4()).hex[:8]}")
    ctx.store.put("transaction_id", transaction_id)
    return ctx.next.step(payment_record)


@payment_wf.step()
async def payment_record(ctx: Context) -> Directive:
    transaction_id = await ctx.store.get("transaction_id", str)
    amount = await ctx.store.get("amount", float)
    status = await record_transaction(transaction_id, amount)
    ctx.logger.info(f"Payment completed with status: {status}")
    res = {"status": status, "transaction_id": transaction_id}
    await ctx.send_to_parent(event_name="payment_completed", payload=res)
    return ctx.next.complete(res)


# -- ORDER WORKFLOW (parent) -------------------------------------------------


@order_wf.start()
async def order_start(ctx: Context, order_id: str, amount: float) -> Directive:
    validated_id, validated_amount = await validate_order(order_id, amount)
    ctx.store.put("order_id", validated_id)
    payment_handle = await ctx.start_child(
        payment_wf.workflow_type,
        workflow_id=f"payment-{validated_id}",
        workflow_input={"amount": validated_amount},
        workflow_timeout=timedelta(minutes=1),
    )
    ctx.store.put("payment_workflow_id", payment_handle.run_info.id)
    ctx.logger.info("Started child payment workflow %s", payment_handle.run_info.id)
    return ctx.next.wait()


@order_wf.event(name="payment_completed")
async def handle_payment_result(ctx: Context, status: str, transaction_id: str) -> Directive:
    order_id = await ctx.store.get("order_id", str)
    message = f"Order {order_id} completed with payment status: {status} transaction_id: "
    return ctx.next.complete(message + transaction_id)


async def main() -> None:
    connection = await Connection.connect()
    worker = Worker(workflows=[order_wf, payment_wf], connection=connection)
    worker_task = asyncio.create_task(worker.start())
    client = Client(connection=connection)
    wf_id = workflow_id("order-1")
    try:
        try:
            handle = await client.start_workflow(
                type=order_wf.workflow_type,
                id=wf_id,
                input={"order_id": "ORDER-001", "amount": 99.99},
                timeout=timedelta(seconds=60),
            )
        except WorkflowAlreadyRunningError:
            handle = await client.get_workflow_handle(wf_id)
        result = await asyncio.wait_for(handle.future, timeout=60)
        logger.info(f"Order workflow result: {result}")
    finally:
        await worker.stop()
        if not worker_task.done():
            worker_task.cancel()
            await asyncio.gather(worker_task, return_exceptions=True)
    print("result:", json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
