"""Computation graphs and reactors under SIGKILL (tests/test_cloaca_graphs.py).

* ``crash_graph`` workflow: ``score`` invokes the graph ``crash_scoring`` (its
  node appends ``node`` to the side file), then ``wait`` appends ``wait`` and,
  the first time only, hangs so that the test can kill the process.
* reactor ``crash_rx`` (``when_all`` over ``alpha`` and ``beta``) fires the graph
  ``crash_rx_graph``, whose node appends ``fired a b`` and, the first time
  only, hangs as well.

Usage::

    graph_app.py DB_URL SIDE_FILE start           start crash_graph, print its id, wait
    graph_app.py DB_URL SIDE_FILE push ACC VALUE  push VALUE (JSON) into ACC, then hang
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import taskloom as cloaca

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import append_line, main_as_module, read_lines

WORKFLOW = "crash_graph"
SIDE_ENV = "TASKLOOM_GRAPH_SIDE"


def _side() -> str:
    return os.environ[SIDE_ENV]


def _hang_first_time(marker: str) -> None:
    if read_lines(_side()).count(marker) == 1:
        time.sleep(60)


scoring = cloaca.ComputationGraphBuilder("crash_scoring", graph={"node": {}})
with scoring:

    @cloaca.node
    def node(ctx: Any) -> dict[str, Any]:
        append_line(_side(), "node")
        return {"scored": ctx.get("n", 0) * 2}


with cloaca.WorkflowBuilder(WORKFLOW):

    @cloaca.task(id="score", invokes=scoring, retry_attempts=1)
    def score(ctx: Any) -> Any:
        return ctx

    @cloaca.task(id="wait", dependencies=["score"], retry_attempts=1)
    def wait(ctx: Any) -> Any:
        append_line(_side(), "wait")
        _hang_first_time("wait")
        ctx.set("waited", True)
        return ctx


@cloaca.reactor(name="crash_rx", accumulators=["alpha", "beta"], mode="when_all")
class CrashRx:
    pass


with cloaca.ComputationGraphBuilder(
    "crash_rx_graph", reactor=CrashRx, graph={"combine": {"inputs": ["alpha", "beta"]}}
):

    @cloaca.node
    def combine(alpha: Any, beta: Any) -> dict[str, Any]:
        append_line(_side(), f"fired {alpha} {beta}")
        _hang_first_time(f"fired {alpha} {beta}")
        return {"pair": [alpha, beta]}


def main(argv: list[str]) -> int:
    url, side, command, *rest = argv
    os.environ[SIDE_ENV] = side
    runner = cloaca.DefaultRunner(url)
    if command == "start":
        handle = runner.start(WORKFLOW, cloaca.Context({"n": 21}))
        print(handle.run_id, flush=True)
        handle.result()
        return 0
    accumulator, value = rest
    runner.push(CrashRx, accumulator, json.loads(value))
    append_line(side, f"pushed {accumulator}")
    time.sleep(60)  # killed here
    return 0


if __name__ == "__main__":
    main_as_module("graph_app")
