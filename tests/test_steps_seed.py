"""Every example of grctl's task documentation, with only its import lines changed.

grctl imports -> taskloom imports:
    from grctl.worker.task import task        -> from taskloom import task
    from grctl.worker.context import Context  -> from taskloom.steps import Context
    from grctl.models import Directive        -> from taskloom.steps import Directive
    from grctl.workflow import Workflow       -> from taskloom.steps import Workflow
    from grctl.models import ErrorDetails     -> from taskloom.steps import ErrorDetails
    from grctl.models.directive import RetryPolicy -> from taskloom import RetryPolicy
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from taskloom import RetryPolicy, task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.steps import Client, Context, Directive, ErrorDetails, Workflow, WorkflowFailed


def crash_engines() -> None:
    """Stop every default engine without waiting: runs in flight stay recorded as running.

    The next ``Client(db)`` gets a new engine whose recovery resumes them -- the
    in-process stand-in for a process that died (test_steps_sigkill does it for real).
    """
    shutdown_engines(wait=False)


@pytest.fixture(autouse=True)
def _fresh_engines() -> Iterator[None]:
    yield
    crash_engines()


def test_basic_usage(db_url: str) -> None:
    calls: list[str] = []
    order = Workflow(workflow_type="ProcessOrder")

    @task
    async def charge_payment(amount: float) -> str:
        calls.append(f"charge {amount}")
        return "txn_abc123"

    @task
    async def send_confirmation(txn_id: str, email: str) -> None:
        calls.append(f"confirm {txn_id} {email}")

    @order.start()
    async def start(ctx: Context, amount: float, email: str) -> Directive:
        txn_id = await charge_payment(amount)
        await send_confirmation(txn_id, email)
        return ctx.next.complete({"txn_id": txn_id})

    result = Client(db_url).run_workflow("ProcessOrder", "order-1", {"amount": 9.5, "email": "a@x"})
    assert result == {"txn_id": "txn_abc123"}
    assert calls == ["charge 9.5", "confirm txn_abc123 a@x"]


def test_retry_policy_keywords_retry_within_the_step(db_url: str) -> None:
    attempts: list[int] = []
    order = Workflow(workflow_type="RetryOrder")

    @task(
        retry_policy=RetryPolicy(
            max_attempts=5,
            initial_delay_ms=1,
            backoff_multiplier=2.0,
            max_delay_ms=30_000,
        )
    )
    async def call_external_api(url: str) -> dict[str, str]:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise ConnectionError("flaky")
        return {"url": url}

    @order.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.complete(await call_external_api("http://x"))

    client = Client(db_url)
    handle = client.start_workflow("RetryOrder", "r-1")
    assert handle.result(timeout=10) == {"url": "http://x"}
    assert attempts == [1, 2, 3]
    kinds = [e["kind"] for e in handle.history()]
    assert kinds.count("operation_retry") == 2


def test_retryable_and_non_retryable_errors(db_url: str) -> None:
    calls = {"fetch": 0, "process": 0}

    @task(
        retry_policy=RetryPolicy(
            max_attempts=3, retryable_errors=["TimeoutError", "ConnectionError"]
        )
    )
    async def fetch_data(url: str) -> dict[str, str]:
        calls["fetch"] += 1
        raise KeyError("not retryable here")

    @task(
        retry_policy=RetryPolicy(
            max_attempts=3, non_retryable_errors=["ValueError", "AuthenticationError"]
        )
    )
    async def process_record(record_id: str) -> dict[str, str]:
        calls["process"] += 1
        if calls["process"] == 1:
            raise ConnectionError("retry me")
        raise ValueError("stop")

    wf = Workflow(workflow_type="ErrorKinds")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        seen = []
        for call in (fetch_data("u"), process_record("r")):
            try:
                await call
            except Exception as exc:
                seen.append(type(exc).__name__)
        return ctx.next.complete(seen)

    assert Client(db_url).run_workflow("ErrorKinds") == ["KeyError", "ValueError"]
    assert calls == {"fetch": 1, "process": 2}


class PaymentDeclinedError(Exception):
    pass


def test_error_handling_and_compensation(db_url: str) -> None:
    log: list[str] = []
    order = Workflow(workflow_type="FulfilOrder")

    @task
    async def charge_payment(order_id: str) -> str:
        log.append("charge")
        raise PaymentDeclinedError("declined")

    @task
    async def notify_customer(order_id: str, what: str) -> None:
        log.append(f"notify {what}")

    @task
    async def reserve_inventory(order_id: str) -> str:
        log.append("reserve")
        return "res-1"

    @task
    async def release_inventory(reservation_id: str) -> None:
        log.append(f"release {reservation_id}")

    @order.start()
    async def start(ctx: Context, order_id: str, amount: float) -> Directive:
        ctx.store.put("order_id", order_id)
        ctx.store.put("amount", amount)
        return ctx.next.step(charge)

    @order.step()
    async def charge(ctx: Context) -> Directive:
        amount = await ctx.store.get("amount")
        order_id = await ctx.store.get("order_id")
        try:
            txn_id = await charge_payment(amount)
        except PaymentDeclinedError:
            await notify_customer(order_id, "payment_failed")
            return ctx.next.step(fulfill)
        return ctx.next.complete({"txn_id": txn_id, "status": "charged"})

    @order.step()
    async def fulfill(ctx: Context) -> Directive:
        order_id = await ctx.store.get("order_id")
        reservation_id = await reserve_inventory(order_id)
        try:
            await charge_payment(order_id)
        except PaymentDeclinedError:
            await release_inventory(reservation_id)  # undo the reservation
            return ctx.next.complete({"status": "payment_failed"})
        return ctx.next.complete({"status": "fulfilled"})

    client = Client(db_url)
    handle = client.start_workflow("FulfilOrder", "f-1", {"order_id": "o-1", "amount": 3.0})
    assert handle.result(timeout=10) == {"status": "payment_failed"}
    assert log == ["charge", "notify payment_failed", "reserve", "charge", "release res-1"]
    assert handle.describe().steps == ["start", "charge", "fulfill"]
    keys = [h["key"] for h in handle.history() if h["kind"] == "operation_completed"]
    assert any(k.endswith(":release_inventory") for k in keys)


def test_fail_with_error_details(db_url: str) -> None:
    order = Workflow(workflow_type="FailOrder")

    @task
    async def charge_payment(amount: float) -> str:
        raise RuntimeError("card expired")

    @order.start()
    async def start(ctx: Context, amount: float) -> Directive:
        ctx.store.put("amount", amount)
        return ctx.next.step(charge)

    @order.step()
    async def charge(ctx: Context) -> Directive:
        amount = await ctx.store.get("amount")
        try:
            txn_id = await charge_payment(amount)
        except Exception as e:
            return ctx.next.fail(
                ErrorDetails(type=type(e).__name__, message=f"Payment failed: {e}")
            )
        return ctx.next.complete({"txn_id": txn_id})

    handle = Client(db_url).start_workflow("FailOrder", "x-1", {"amount": 1.0})
    with pytest.raises(WorkflowFailed) as info:
        handle.result(timeout=10)
    assert info.value.details == ErrorDetails("RuntimeError", "Payment failed: card expired")
    assert info.value.step == "charge"
    assert handle.describe().status == "Failed"


def test_parallel_tasks_gather_and_task_group(db_url: str) -> None:
    sent: list[str] = []
    order = Workflow(workflow_type="NotifyOrder")

    @task
    async def send_email(email: str, order_id: str) -> None:
        await asyncio.sleep(0.01)
        sent.append("email")

    @task
    async def update_crm(order_id: str) -> None:
        sent.append("crm")

    @task
    async def log_analytics(order_id: str) -> None:
        sent.append("analytics")

    @order.start()
    async def start(ctx: Context, order_id: str, email: str) -> Directive:
        ctx.store.put("order_id", order_id)
        ctx.store.put("email", email)
        return ctx.next.step(notify)

    @order.step()
    async def notify(ctx: Context) -> Directive:
        order_id = await ctx.store.get("order_id")
        email = await ctx.store.get("email")
        await asyncio.gather(
            send_email(email, order_id),
            update_crm(order_id),
            log_analytics(order_id),
        )
        async with asyncio.TaskGroup() as tg:
            tg.create_task(send_email(email, order_id))
            tg.create_task(update_crm(order_id))
        return ctx.next.complete("done")

    handle = Client(db_url).start_workflow("NotifyOrder", "n-1", {"order_id": "o", "email": "e"})
    assert handle.result(timeout=10) == "done"
    assert sorted(sent) == ["analytics", "crm", "crm", "email", "email"]
    done = [h["key"] for h in handle.history() if h["kind"] == "operation_completed"]
    assert len(done) == 5 and len(set(done)) == 5
