"""Workflow "tick" for ``taskloom worker --import`` in the schedule tests.

Each run appends a line to the file named by $TICK_OUT.
"""

from __future__ import annotations

import os
import time

import taskloom as cloaca

with cloaca.WorkflowBuilder("tick") as builder:

    @cloaca.task(id="tick")
    def tick(context: cloaca.Context) -> cloaca.Context:
        with open(os.environ["TICK_OUT"], "a") as fh:
            fh.write(f"ran {os.getpid()} {time.time():.3f}\n")
        return context
