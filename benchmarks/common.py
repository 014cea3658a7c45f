"""Helpers shared by the benchmark scripts: timing, medians, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def measure(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Run ``fn`` ``warmup`` + ``repeats`` times; report median/min/max seconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "repeats": repeats,
    }


def measure_interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> dict[str, dict[str, float]]:
    """Like :func:`measure` for several cases, alternating them run by run.

    Cases whose *ratio* matters (a long chain against a short one) then see
    the same machine conditions, which on a shared 2-core machine drift by
    tens of percent within a minute.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "repeats": repeats,
        }
        for name, values in samples.items()
    }


def report(name: str, cases: dict[str, dict[str, Any]], out: str | None) -> None:
    """Print a table and write the JSON document."""
    print(f"{'case':<52} {'median':>12} {'target':>10}  ok")
    for case, figures in cases.items():
        target = figures.get("target_s")
        ok = "" if target is None else ("yes" if figures["median_s"] <= target else "NO")
        target_text = "" if target is None else f"{target * 1000:.1f} ms"
        print(f"{case:<52} {figures['median_s'] * 1000:>9.2f} ms {target_text:>10}  {ok}")
    path = Path(out) if out else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), "cases": cases}, indent=2))
    print(f"wrote {path}")
