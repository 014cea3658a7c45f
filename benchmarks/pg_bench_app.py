"""Workflows of bench_postgres.py, imported by the benchmark's worker processes."""

from __future__ import annotations

import time

import taskloom as cloaca


def _noop(ctx: cloaca.Context) -> None:
    return None


def _renamed(name: str):  # type: ignore[no-untyped-def]
    def body(ctx: cloaca.Context) -> None:
        return None

    body.__name__ = body.__qualname__ = name
    return body


# 100 no-op tasks: a root, 98 tasks fanning out from it, a join.
with cloaca.WorkflowBuilder("pg_fan100") as _fan:
    _fan.add_task(cloaca.task(id="root")(_renamed("root")))
    for _i in range(98):
        _fan.add_task(cloaca.task(id=f"m{_i}", dependencies=["root"])(_renamed(f"m{_i}")))
    _fan.add_task(
        cloaca.task(id="join", dependencies=[f"m{i}" for i in range(98)])(_renamed("join"))
    )

with cloaca.WorkflowBuilder("pg_one"):
    cloaca.task(id="only")(_renamed("only"))


with cloaca.WorkflowBuilder("pg_sleep"):

    @cloaca.task(id="nap")
    def nap(ctx: cloaca.Context) -> None:
        time.sleep(float(ctx.get("sleep") or 0))
