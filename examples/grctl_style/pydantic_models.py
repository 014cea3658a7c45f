"""grctl's pydantic example on taskloom: models at every boundary.

The workflow input, a task's input and output, the store, an event payload
and the result are pydantic models; the journal records their fields (JSON)
and the annotations rebuild them -- after a crash too.
"""

import asyncio
import logging
from datetime import timedelta

from _effects import latency, record, workflow_id
from pydantic import BaseModel

from taskloom.compat.grctl.client import Client, Connection, get_logger, setup_logging
from taskloom.compat.grctl.models.errors import WorkflowAlreadyRunningError
from taskloom.compat.grctl.worker import Context, Worker, task
from taskloom.compat.grctl.workflow import Directive, Workflow

setup_logging(level=logging.INFO)
logger = get_logger(__name__)


class OrderRequest(BaseModel):
    order_id: str
    customer: str
    amount: float
    currency: str = "USD"


class EnrichedOrder(BaseModel):
    order_id: str
    customer: str
    amount: float
    currency: str
    tax: float
    total: float


class PaymentConfirmation(BaseModel):
    transaction_id: str
    status: str
    paid_amount: float


class Capture(BaseModel):
    transaction_id: str
    captured: float


class OrderResult(BaseModel):
    order_id: str
    customer: str
    total: float
    payment_status: str
    transaction_id: str
    captured: float


orders = Workflow(workflow_type="Orders")


@task
async def enrich_order(order: OrderRequest) -> EnrichedOrder:
    record(f"enrich {order.order_id}")
    tax = round(order.amount * 0.08, 2)
    return EnrichedOrder(
        order_id=order.order_id,
        customer=order.customer,
        amount=order.amount,
        currency=order.currency,
        tax=tax,
        total=round(order.amount + tax, 2),
    )


@task
async def capture_payment(confirmation: PaymentConfirmation) -> Capture:
    record(f"capture {confirmation.transaction_id}")
    await asyncio.sleep(latency())
    return Capture(transaction_id=confirmation.transaction_id, captured=confirmation.paid_amount)


@orders.start()
async def start(ctx: Context, order: OrderRequest) -> Directive:
    enriched = await enrich_order(order)
    ctx.logger.info(f"Enriched order: total={enriched.total} {enriched.currency}")
    ctx.store.put("enriched_order", enriched)
    return ctx.next.wait()


@orders.event()
async def confirm_payment(ctx: Context, confirmation: PaymentConfirmation) -> Directive:
    enriched = await ctx.store.get("enriched_order", EnrichedOrder)
    capture = await capture_payment(confirmation)
    result = OrderResult(
        order_id=enriched.order_id,
        customer=enriched.customer,
        total=enriched.total,
        payment_status=confirmation.status,
        transaction_id=capture.transaction_id,
        captured=capture.captured,
    )
    return ctx.next.complete(result)


async def main() -> None:
    connection = await Connection.connect()
    worker = Worker(workflows=[orders], connection=connection)
    worker_task = asyncio.create_task(worker.start())
    client = Client(connection=connection)
    wf_id = workflow_id("orders-1")
    try:
        try:
            handle = await client.start_workflow(
                type=orders.workflow_type,
                id=wf_id,
                input=OrderRequest(order_id="ORD-001", customer="Alice", amount=99.99),
                timeout=timedelta(seconds=60),
                return_type=OrderResult,
            )
            await handle.send(
                "confirm_payment",
                PaymentConfirmation(transaction_id="TXN-XYZ", status="approved", paid_amount=107.99),
            )
        except WorkflowAlreadyRunningError:
            handle = await client.get_workflow_handle(wf_id)
        result = OrderResult.model_validate(await asyncio.wait_for(handle.future, timeout=60))
        logger.info(f"Workflow result: {result}")
    finally:
        await worker.stop()
        if not worker_task.done():
            worker_task.cancel()
            await asyncio.gather(worker_task, return_exceptions=True)
    print("result:", result.model_dump_json())


if __name__ == "__main__":
    asyncio.run(main())
