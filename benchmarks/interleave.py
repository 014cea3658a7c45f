"""Compare two checkouts of taskloom on the same benchmarks, interleaved.

The machine is noisy, so "before" and "after" run in alternation, round by
round, each from its own checkout and virtualenv, and the table compares the
medians of the rounds. Usage::

    python benchmarks/interleave.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 3]
        [--benches dag flow steps] [--repeats 5] [--out DIR]

Each checkout must have ``.venv/bin/python`` with taskloom installed from it.
Writes every run's JSON into ``--out`` and prints one table row per case.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--benches", nargs="+", default=["dag", "flow", "steps"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/interleave"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    medians: dict[tuple[str, str], dict[str, list[float]]] = {}
    for round_no in range(1, args.rounds + 1):
        for bench in args.benches:
            for side, checkout in (("old", args.old), ("new", args.new)):
                out = (args.out / f"{side}_{bench}_{round_no}.json").resolve()
                subprocess.run(
                    [
                        str(checkout / ".venv/bin/python"),
                        f"benchmarks/bench_{bench}.py",
                        "--repeats",
                        str(args.repeats),
                        "--out",
                        str(out),
                    ],
                    cwd=checkout,
                    check=True,
                    capture_output=True,
                )
                for case, figures in json.loads(out.read_text())["cases"].items():
                    if "median_s" in figures:
                        sides = medians.setdefault((bench, case), {})
                        sides.setdefault(side, []).append(figures["median_s"])
    print("| bench | case | before (ms) | after (ms) | after/before |")
    print("|---|---|---|---|---|")
    for (bench, case), sides in medians.items():
        old, new = sides.get("old", []), sides.get("new", [])
        ratio = statistics.median(new) / statistics.median(old) if old and new else float("nan")
        show = lambda xs: " ".join(f"{x * 1000:.1f}" for x in xs)  # noqa: E731
        print(f"| {bench} | {case} | {show(old)} | {show(new)} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
