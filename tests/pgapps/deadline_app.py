"""Workflows executed by ``taskloom worker`` processes in test_postgres_deadlines.py.

Task bodies append ``TAG TASK PID`` to ``$TASKLOOM_SIDE_FILE`` when they
finish, so the tests count what really ran, outside the engine.
"""

from __future__ import annotations

import os
import time

import taskloom as cloaca


def note(ctx: cloaca.Context, name: str) -> None:
    path = os.environ.get("TASKLOOM_SIDE_FILE")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{ctx.get('tag')} {name} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


# overdue: nap sleeps the context's "sleep" seconds in a sync body (Python
# cannot stop it), then after runs -- unless the run was stopped first.
with cloaca.WorkflowBuilder("overdue"):

    @cloaca.task(id="nap")
    def nap(ctx: cloaca.Context) -> cloaca.Context:
        time.sleep(float(ctx.get("sleep") or 0))
        note(ctx, "nap")
        return ctx

    @cloaca.task(id="after", dependencies=["nap"])
    def after(ctx: cloaca.Context) -> cloaca.Context:
        note(ctx, "after")
        ctx.set("after", True)
        return ctx
