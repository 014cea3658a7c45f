"""Workflows executed by ``taskloom worker`` processes in test_postgres_workers.py.

Every task body appends ``TAG TASK PID`` to the file named by
``$TASKLOOM_SIDE_FILE`` when it finishes: side effects counted outside the
engine, to check that completed tasks are never run again.
"""

from __future__ import annotations

import os
import time

import taskloom as cloaca


def _side_effect(ctx: cloaca.Context, task_id: str) -> None:
    path = os.environ.get("TASKLOOM_SIDE_FILE")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{ctx.get('tag')} {task_id} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


def _wait_for_gate(gate: str) -> None:
    """Say the body began (``GATE.began``), then wait until the file ``GATE`` exists:
    a test that freezes the worker knows the body is in flight, whatever the load."""
    fd = os.open(f"{gate}.began", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    deadline = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)


def _body(task_id: str, sleep_key: str | None = None):  # type: ignore[no-untyped-def]
    def body(ctx: cloaca.Context) -> cloaca.Context:
        if ctx.get("gate"):
            _wait_for_gate(str(ctx.get("gate")))
        if sleep_key is not None:
            time.sleep(float(ctx.get(sleep_key) or 0))
        ctx.set(task_id, True)
        _side_effect(ctx, task_id)
        return ctx

    body.__name__ = body.__qualname__ = f"{task_id}_body"
    return body


# fleet: a diamond with a tail -- a -> (b, c) -> d -> e
with cloaca.WorkflowBuilder("fleet") as _fleet:
    for _id, _deps in (("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"]), ("e", ["d"])):
        _fleet.add_task(cloaca.task(id=_id, dependencies=_deps)(_body(_id, "sleep")))

# stall: one task that sleeps for the context's "sleep" seconds (after its "gate" opens)
with cloaca.WorkflowBuilder("stall") as _stall:
    _stall.add_task(cloaca.task(id="only")(_body("only", "sleep")))
