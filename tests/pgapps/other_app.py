"""A second set of workflows, for workers that must not run each other's tasks."""

from __future__ import annotations

import os

import taskloom as cloaca

with cloaca.WorkflowBuilder("beta"):

    @cloaca.task(id="b1")
    def b1(ctx: cloaca.Context) -> cloaca.Context:
        ctx.set("b1_pid", os.getpid())
        return ctx

    @cloaca.task(id="b2", dependencies=["b1"])
    def b2(ctx: cloaca.Context) -> cloaca.Context:
        ctx.set("b2_pid", os.getpid())
        return ctx
