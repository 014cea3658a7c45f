"""Dataflow (@flow) benchmarks on the durable SQLite journal (no-op tasks).

Usage: python benchmarks/bench_flow.py [--repeats 5] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from common import measure, measure_interleaved, report

from taskloom import flow, task
from taskloom.core.shared_engines import shutdown_engines


@task
def noop(x: int) -> int:
    return x


@task(run_in="process")
def noop_in_process(x: int) -> int:
    return x


@task
def collect(*values: int) -> int:
    return len(values)


@flow
def wide(n: int) -> Any:
    return collect(*[noop(i) for i in range(n)])


@flow
def wide_in_process(n: int) -> Any:
    return collect(*[noop_in_process(i) for i in range(n)])


@flow
def chain(n: int) -> Any:
    value: Any = 0
    for _ in range(n):
        value = noop(value)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    repeats = max(5, args.repeats)

    cases: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"

        def run(f: Any, n: int, expected: int) -> None:
            assert f.run(n, db=db) == expected

        cases["flow: 1000 independent tasks + 1 collector"] = measure(
            lambda: run(wide, 1000, 1000), repeats
        ) | {"target_s": 0.15}
        chains = measure_interleaved(
            {"200": lambda: run(chain, 200, 0), "2000": lambda: run(chain, 2000, 0)}, repeats
        )
        chain200, chain2000 = chains["200"], chains["2000"]
        cases["flow: chain of 200 tasks"] = chain200 | {"target_s": 0.06}
        per_200 = chain200["median_s"] / 200
        per_2000 = chain2000["median_s"] / 2000
        cases["flow: chain of 2000 tasks"] = chain2000 | {
            "per_task_s": per_2000,
            "per_task_ratio_vs_chain200": per_2000 / per_200,
            "target_s": 1.5 * per_200 * 2000,
        }
        cases['flow: 1000 tasks + 1 collector, run_in="process"'] = measure(
            lambda: run(wide_in_process, 1000, 1000), repeats
        ) | {"target_s": 1.0}
        shutdown_engines()
    report("flow", cases, args.out)


if __name__ == "__main__":
    main()
