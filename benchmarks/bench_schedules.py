"""Schedule benchmarks: fire-time lag, and idle CPU with 1,000 schedules registered.

Usage: python benchmarks/bench_schedules.py [--fires 60] [--idle 20] [--url URL]
                                            [--out FILE.json]

* lag: a ``DefaultRunner`` with one schedule firing every second; for each
  of ``--fires`` due times, the lag is the run's recorded creation time minus
  the due time (median and p99, ms).
* idle CPU: a runner with 1,000 schedules that are not due during the
  measurement (daily, spread over the day): the process's CPU time over
  ``--idle`` seconds of wall time, as a percentage of one core.

``--url`` defaults to a scratch SQLite file; a ``postgresql://`` URL (with a
``?schema=`` of its own) measures PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import RESULTS_DIR, machine

import taskloom as cloaca
from taskloom.journal.schedules import ScheduleStore


def _workflow() -> None:
    with cloaca.WorkflowBuilder("bench_tick"):

        @cloaca.task(id="tick")
        def tick(context: cloaca.Context) -> cloaca.Context:
            return context


def lag(url: str, fires: int) -> dict[str, Any]:
    with cloaca.DefaultRunner(url) as runner:
        schedule_id = runner.register_cron_workflow("bench_tick", "* * * * * *")
        store = ScheduleStore(runner.journal)
        deadline = time.monotonic() + fires + 30
        while True:
            done = [f for f in store.history(schedule_id) if f.run_id is not None]
            if len(done) >= fires:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(done)} of {fires} fires within the time allowed")
            time.sleep(0.5)
        lags = []
        for fire in done[:fires]:
            run = runner.journal.get_run(fire.run_id or "")
            assert run is not None
            lags.append((run.created_at - fire.due_ms / 1000) * 1000)
        runner.delete_cron_schedule(schedule_id)
    lags.sort()
    return {
        "fires": len(lags),
        "median_ms": statistics.median(lags),
        "p99_ms": lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))],
        "max_ms": lags[-1],
    }


def idle_cpu(url: str, seconds: float, count: int = 1000) -> dict[str, Any]:
    with cloaca.DefaultRunner(url) as runner:
        now = time.gmtime()
        for i in range(count):
            # Daily schedules, none due in the next hours: an idle scheduler.
            minute, hour = i % 60, (now.tm_hour + 6 + (i // 60) % 12) % 24
            runner.register_cron_workflow("bench_tick", f"{minute} {hour} * * *")
        time.sleep(2)  # let the registrations settle (each woke the loop once)
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        assert len(runner.list_cron_schedules()) == count
    return {"schedules": count, "seconds": wall, "cpu_s": cpu, "cpu_percent": 100 * cpu / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fires", type=int, default=60)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--url", default=None)
    parser.add_argument("--out", default=str(RESULTS_DIR / "schedules.json"))
    args = parser.parse_args()
    _workflow()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        fired = lag(url, args.fires)
        print(
            f"fire-time lag, 1 s schedule, {fired['fires']} fires: median "
            f"{fired['median_ms']:.2f} ms, p99 {fired['p99_ms']:.2f} ms, max "
            f"{fired['max_ms']:.2f} ms"
        )
        idle = idle_cpu(url, args.idle)
        print(
            f"idle CPU with {idle['schedules']} schedules: {idle['cpu_percent']:.3f} % of one "
            f"core ({idle['cpu_s'] * 1000:.1f} ms CPU in {idle['seconds']:.1f} s)"
        )
    document = {"machine": machine(), "url": args.url or "sqlite", "lag": fired, "idle": idle}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
