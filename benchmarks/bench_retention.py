"""Retention under load, and what the SQLite file costs per task with and without it.

1. Prune under load: ``--runs`` (100,000) one-task runs are recorded and
   end; then a workload thread keeps executing one-task runs, first alone
   (baseline window) and then while ``prune`` deletes every old run in
   batches of 200. Printed: the workload's p50/p99 latency in both windows
   and their ratio (target: p99 during the prune within 2x of without).
2. Steady load: the same workload for ``--soak-rounds`` rounds of
   ``--soak-runs`` runs, without retention and then, on a fresh file, with
   a prune of everything that ended before the round began after every
   round (as a runner's ``retention`` option does on its timer). Printed:
   the file's size after each round and the bytes per task written.

Usage: python benchmarks/bench_retention.py [--runs 100000] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import report

import taskloom as cloaca
from taskloom.core.retention import prune


def define() -> None:
    with cloaca.WorkflowBuilder("small"):

        @cloaca.task(id="one", retry_attempts=1)
        def one(context: cloaca.Context) -> cloaca.Context:
            context.set("n", 1)
            return context


def latencies(runner: cloaca.DefaultRunner, stop: threading.Event) -> list[float]:
    found: list[float] = []
    while not stop.is_set():
        began = time.perf_counter()
        runner.execute("small")
        found.append(time.perf_counter() - began)
    return found


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def prune_under_load(url: str, runs: int, window: float, batch: int) -> dict[str, Any]:
    with cloaca.DefaultRunner(url) as runner:
        began = time.perf_counter()
        for _ in range(runs):
            runner.execute("small")
        filled = time.perf_counter() - began
        cutoff = time.time()
        stop = threading.Event()
        box: dict[str, list[float]] = {}
        worker = threading.Thread(target=lambda: box.update(base=latencies(runner, stop)))
        worker.start()
        time.sleep(window)  # the baseline window: the workload alone
        stop.set()
        worker.join()
        stop = threading.Event()
        worker = threading.Thread(target=lambda: box.update(during=latencies(runner, stop)))
        worker.start()
        report_ = prune(runner.journal, time.time() - cutoff, batch_size=batch)
        stop.set()
        worker.join()
    base, during = box["base"], box["during"]
    return {
        "median_s": report_.seconds,
        "runs_pruned": report_.runs,
        "batches": report_.batches,
        "fill_s": filled,
        "workload_p50_alone_ms": statistics.median(base) * 1000,
        "workload_p99_alone_ms": quantile(base, 0.99) * 1000,
        "workload_p50_during_ms": statistics.median(during) * 1000,
        "workload_p99_during_ms": quantile(during, 0.99) * 1000,
        "p99_ratio": quantile(during, 0.99) / quantile(base, 0.99),
        "workload_runs_during": len(during),
    }


def soak(directory: Path, rounds: int, per_round: int, retention: bool) -> dict[str, Any]:
    path = directory / f"soak-{'on' if retention else 'off'}.db"
    sizes: list[int] = []
    with cloaca.DefaultRunner(f"sqlite:///{path}") as runner:
        for _ in range(rounds):
            round_began = time.time()
            for _ in range(per_round):
                runner.execute("small")
            if retention:
                prune(runner.journal, time.time() - round_began)
            sizes.append(os.path.getsize(path) + _wal_size(path))
    tasks = rounds * per_round
    return {
        "median_s": 0.0,
        "sizes_bytes": sizes,
        "tasks": tasks,
        "bytes_per_task": sizes[-1] / tasks,
        "growth_last_half_bytes": sizes[-1] - sizes[len(sizes) // 2],
    }


def _wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return os.path.getsize(wal) if wal.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--soak-rounds", type=int, default=10)
    parser.add_argument("--soak-runs", type=int, default=2_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    define()
    cases: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cases[f"prune {args.runs} runs under load"] = prune_under_load(
            f"sqlite:///{directory / 'prune.db'}", args.runs, args.window, args.batch_size
        )
        cases["steady load, no retention"] = soak(
            directory, args.soak_rounds, args.soak_runs, retention=False
        )
        cases["steady load, retention every round"] = soak(
            directory, args.soak_rounds, args.soak_runs, retention=True
        )
    for case, figures in cases.items():
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in figures.items()}
        print(case, shown)
    report("retention", cases, args.out)


if __name__ == "__main__":
    main()
