"""taskloom demo: a small order-report pipeline on the embedded SQLite journal.

Run it twice: every run is recorded in ./taskloom.db, and
``taskloom runs`` / ``taskloom show RUN_ID`` print what happened.

    python examples/demo.py
"""

from __future__ import annotations

import random

import taskloom as cloaca  # Cloaca code runs with only this line changed

attempts = {"fetch_rates": 0}

with cloaca.WorkflowBuilder("order_report") as builder:
    builder.description("Fetch orders and exchange rates, convert, summarise")

    @cloaca.task(id="fetch_orders")
    def fetch_orders(context: cloaca.Context) -> cloaca.Context:
        rng = random.Random(context.get("seed", 7))
        orders = [
            {
                "id": i,
                "amount": round(rng.uniform(5, 200), 2),
                "currency": rng.choice(["EUR", "USD"]),
            }
            for i in range(1, 11)
        ]
        context.set("orders", orders)
        return context

    @cloaca.task(id="fetch_rates", retry_attempts=3, retry_delay_ms=50, retry_condition="transient")
    def fetch_rates(context: cloaca.Context) -> cloaca.Context:
        # A flaky upstream: the first call fails with a transient error and is retried.
        attempts["fetch_rates"] += 1
        if attempts["fetch_rates"] == 1:
            raise ConnectionError("rates service unavailable")
        context.set("rates", {"EUR": 1.0, "USD": 0.92})
        return context

    @cloaca.task(id="convert", dependencies=["fetch_orders", "fetch_rates"])
    def convert(context: cloaca.Context) -> cloaca.Context:
        rates = context.get("rates")
        context.set(
            "orders_eur",
            [round(o["amount"] * rates[o["currency"]], 2) for o in context.get("orders")],
        )
        return context

    @cloaca.task(id="summarise", dependencies=[convert])
    async def summarise(context: cloaca.Context) -> cloaca.Context:
        amounts = context.get("orders_eur")
        context.set("report", {"orders": len(amounts), "total_eur": round(sum(amounts), 2)})
        return context


def main() -> None:
    with cloaca.DefaultRunner() as runner:  # sqlite://taskloom.db unless TASKLOOM_DATABASE_URL
        result = runner.execute("order_report", cloaca.Context({"seed": 42}))
    print(f"run {result.run_id}: {result.status} in {result.duration:.3f} s")
    for task_id, outcome in result.task_results.items():
        print(f"  {task_id:<14} {outcome.status:<10} attempts={outcome.attempts}")
    print("report:", result.final_context.get("report"))
    if result.status != "Completed":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
