"""The seed's "Replay Behavior" for real: SIGKILL between two tasks, restart, no double charge."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from crashkit import kill_when_reached, run_to_end

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from taskloom import task
    from taskloom.steps import Client, Context, Directive, Workflow

    SIDE, DB = sys.argv[2], sys.argv[3]

    def note(text):
        with open(SIDE, "a") as f:
            f.write(text + "\\n")
            f.flush()
            os.fsync(f.fileno())

    order = Workflow(workflow_type="ProcessOrder")

    @task
    async def charge_payment(amount: float) -> str:
        note("charge")
        return "txn_abc123"

    @task
    async def send_confirmation(txn_id: str, email: str) -> None:
        note("confirm " + txn_id)

    @order.start()
    async def start(ctx: Context, amount: float, email: str) -> Directive:
        txn_id = await charge_payment(amount)
        if os.environ.get("CRASH") == "1":
            note("waiting")
            await asyncio.sleep(60)  # killed here, before send_confirmation
        await send_confirmation(txn_id, email)
        return ctx.next.complete({"txn_id": txn_id})

    client = Client(DB)
    if sys.argv[1] == "run":
        client.start_workflow("ProcessOrder", "order-1", {"amount": 5.0, "email": "a@x"})
        asyncio.run(asyncio.sleep(120))
    else:
        print(json.dumps(client.get_handle("order-1").result(timeout=20)))
    """
)


@pytest.mark.timeout(60)
def test_sigkill_before_send_confirmation_then_restart(tmp_path: Path) -> None:
    script = tmp_path / "order.py"
    script.write_text(SCRIPT)
    side = tmp_path / "side.txt"
    db = f"sqlite:///{tmp_path / 'steps.db'}"
    env = {**os.environ, "CRASH": "1"}
    kill_when_reached([str(script), "run", str(side), db], side, "waiting", env=env)
    env.pop("CRASH")
    last = run_to_end([str(script), "resume", str(side), db], env=env)
    assert json.loads(last) == {"txn_id": "txn_abc123"}
    # charge_payment ran once (its recorded value was replayed), send_confirmation once
    assert side.read_text().split("\n")[:-1] == ["charge", "waiting", "confirm txn_abc123"]
