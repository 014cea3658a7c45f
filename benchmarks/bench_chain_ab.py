"""A/B: the chain of 200 no-op tasks (bench_dag.py's case) on two source trees, interleaved.

Each round runs one fresh process per tree, alternating which goes first,
and each process reports the median of ``--repeats`` executions of the
chain (after a warm-up) on its own SQLite journal. On a shared machine whose
speed drifts within a minute, only interleaved figures can be compared.

Usage: python benchmarks/bench_chain_ab.py A_SRC B_SRC [--rounds 6] [--repeats 15] [--out F]
(e.g. A_SRC = an export of main's ``src``, B_SRC = this tree's ``src``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from common import machine

CHILD = r"""
import json, statistics, sys, tempfile, time
from pathlib import Path
import taskloom as cloaca

def noop(context):
    return context

with cloaca.WorkflowBuilder("chain200"):
    previous = None
    for i in range(200):
        def body(context):
            return context
        body.__name__ = body.__qualname__ = f"t{i}"
        cloaca.task(id=f"t{i}", dependencies=[previous] if previous else [], retry_attempts=1)(body)
        previous = f"t{i}"

repeats = int(sys.argv[1])
with tempfile.TemporaryDirectory() as tmp:
    with cloaca.DefaultRunner(f"sqlite:///{Path(tmp) / 'bench.db'}") as runner:
        for _ in range(3):
            runner.execute("chain200")
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            assert runner.execute("chain200").status == "Completed"
            samples.append(time.perf_counter() - start)
print(json.dumps({"median_s": statistics.median(samples), "file": cloaca.__file__}))
"""


def run_tree(src: str, repeats: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("a_src")
    parser.add_argument("b_src")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"a": [], "b": []}
    for i in range(args.rounds):
        order = [("a", args.a_src), ("b", args.b_src)]
        if i % 2:
            order.reverse()
        for name, src in order:
            samples[name].append(run_tree(src, args.repeats)["median_s"])
    report = {
        "case": "chain of 200 tasks, median of per-process medians",
        "machine": machine(),
        "rounds": args.rounds,
        "repeats": args.repeats,
        "a": {
            "src": args.a_src,
            "median_s": statistics.median(samples["a"]),
            "samples": samples["a"],
        },
        "b": {
            "src": args.b_src,
            "median_s": statistics.median(samples["b"]),
            "samples": samples["b"],
        },
    }
    report["b_over_a"] = report["b"]["median_s"] / report["a"]["median_s"]  # type: ignore[index]
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
