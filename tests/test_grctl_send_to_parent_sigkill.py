"""``send_to_parent`` is sent once even when the child dies right after sending it.

The child is SIGKILLed after the event reached the parent's inbox but
before the send was marked done; the re-executed step finds the event in
the parent's inbox and does not send it again.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from crashkit import kill_when_reached, run_to_end

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from taskloom.journal.sqlite import SQLiteJournal
    from taskloom.steps import Client, Context, Directive, Workflow

    SIDE, DB = sys.argv[2], sys.argv[3]

    def note(text):
        with open(SIDE, "a") as f:
            f.write(text + "\\n")
            f.flush()
            os.fsync(f.fileno())

    send = SQLiteJournal.send_signal

    def send_then_stall(self, run_id, name, payload_json, at):
        signal_id = send(self, run_id, name, payload_json, at)
        if name == "done" and os.environ.get("STALL") == "1":
            note("sent")
            time.sleep(60)  # killed here: the event is in the inbox, the send not marked done
        return signal_id

    SQLiteJournal.send_signal = send_then_stall

    child = Workflow(workflow_type="Child")
    parent = Workflow(workflow_type="Parent")

    @child.start()
    async def child_start(ctx: Context, n: int) -> Directive:
        await ctx.send_to_parent("done", {"n": n})
        return ctx.next.complete(n)

    @parent.start()
    async def parent_start(ctx: Context) -> Directive:
        await ctx.start_child("Child", workflow_id="child-1", workflow_input={"n": 7})
        return ctx.next.wait()

    @parent.event()
    async def done(ctx: Context, n: int) -> Directive:
        return ctx.next.wait(timeout=1.0, on_timeout=finish)

    @parent.step()
    async def finish(ctx: Context) -> Directive:
        return ctx.next.complete("finished")

    client = Client(DB)
    if sys.argv[1] == "run":
        client.start_workflow("Parent", "parent-1")
        asyncio.run(asyncio.sleep(120))
    else:
        print(json.dumps(client.get_handle("parent-1").result(timeout=30)))
        kinds = [e.kind for e in client.get_handle("parent-1").get_history()]
        print(json.dumps(kinds))
    """
)


@pytest.mark.timeout(60)
def test_send_to_parent_is_not_sent_twice_after_a_crash(tmp_path: Path) -> None:
    script = tmp_path / "family.py"
    script.write_text(SCRIPT)
    side = tmp_path / "side.txt"
    db = f"sqlite:///{tmp_path / 'family.db'}"
    env = {**os.environ, "STALL": "1"}
    kill_when_reached([str(script), "run", str(side), db], side, "sent", env=env)
    env.pop("STALL")
    kinds = json.loads(run_to_end([str(script), "check", str(side), db], env=env))
    # one event reached the parent: handled once, nothing else pending or ignored
    assert kinds.count("event.received") == 1
    assert "event.pending" not in kinds and "event.ignored" not in kinds
    assert kinds.count("wait_event.timeout") == 1 and kinds[-1] == "run.completed"
