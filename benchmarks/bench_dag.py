"""Cloaca-style DAG benchmarks on the durable SQLite journal (no-op tasks).

Usage: python benchmarks/bench_dag.py [--repeats 5] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import measure, measure_interleaved, report

import taskloom as cloaca


def noop(context: cloaca.Context) -> cloaca.Context:
    return context


def sleeper(context: cloaca.Context) -> cloaca.Context:
    time.sleep(0.25)
    return context


def define_chain(name: str, length: int) -> None:
    with cloaca.WorkflowBuilder(name) as builder:
        previous: str | None = None
        for i in range(length):
            task_id = f"t{i}"
            builder.add_task(
                cloaca.task(
                    id=task_id, dependencies=[previous] if previous else [], retry_attempts=1
                )(_renamed(noop, task_id))
            )
            previous = task_id


def define_fan_out(name: str, width: int) -> None:
    with cloaca.WorkflowBuilder(name):
        ids = []
        for i in range(width):
            ids.append(f"leaf{i}")
            cloaca.task(id=f"leaf{i}", retry_attempts=1)(_renamed(noop, f"leaf{i}"))
        cloaca.task(id="join", dependencies=ids, retry_attempts=1)(_renamed(noop, "join"))


def define_sleepers(name: str, count: int) -> None:
    with cloaca.WorkflowBuilder(name):
        for i in range(count):
            cloaca.task(id=f"s{i}", retry_attempts=1)(_renamed(sleeper, f"s{i}"))


def _renamed(fn, name):  # type: ignore[no-untyped-def]
    def wrapper(context):  # type: ignore[no-untyped-def]
        return fn(context)

    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    define_chain("one", 1)
    define_chain("chain200", 200)
    define_chain("chain5000", 5000)
    define_fan_out("fan1000", 1000)
    define_sleepers("sleep8", 8)

    cases: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with cloaca.DefaultRunner(url) as runner:

            def run(name: str) -> None:
                result = runner.execute(name)
                assert result.status == "Completed", result.error_message

            cases["1-task workflow, execute() round trip"] = measure(
                lambda: run("one"), repeats=max(args.repeats, 50), warmup=5
            ) | {"target_s": 0.002}
            chains = measure_interleaved(
                {"200": lambda: run("chain200"), "5000": lambda: run("chain5000")}, args.repeats
            )
            cases["chain of 200 tasks"] = chains["200"] | {"target_s": 0.1}
            cases["fan-out of 1000 tasks + 1 join"] = measure(
                lambda: run("fan1000"), args.repeats
            ) | {"target_s": 0.25}
            chain5000 = chains["5000"]
            per_200 = cases["chain of 200 tasks"]["median_s"] / 200
            per_5000 = chain5000["median_s"] / 5000
            cases["chain of 5000 tasks"] = chain5000 | {
                "per_task_s": per_5000,
                "per_task_ratio_vs_chain200": per_5000 / per_200,
                "target_s": 1.5 * per_200 * 5000,
            }
        config = cloaca.DefaultRunnerConfig(max_concurrent_tasks=4)
        with cloaca.DefaultRunner.with_config(url, config) as runner:
            cases["8 tasks sleeping 0.25 s, max_concurrent_tasks=4"] = measure(
                lambda: run_with(runner, "sleep8"), args.repeats
            ) | {"target_s": 0.55}
    report("dag", cases, args.out)


def run_with(runner: cloaca.DefaultRunner, name: str) -> None:
    result = runner.execute(name)
    assert result.status == "Completed", result.error_message


if __name__ == "__main__":
    main()
