"""PostgreSQL benchmarks: throughput of worker processes, round trip, takeover time.

Usage: python benchmarks/bench_postgres.py [--url postgresql://postgres@127.0.0.1/postgres]
                                           [--repeats 3] [--out FILE.json]

``--url`` names a server where the benchmark may CREATE/DROP a scratch
database. ``synchronous_commit`` is left on (the server default): every
commit is durable.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from common import measure, report

HERE = Path(__file__).parent
APP = HERE / "pg_bench_app.py"
sys.path.insert(0, str(HERE))
import pg_bench_app  # noqa: E402,F401 - registers the workflows under the workers' module name

from taskloom import Client  # noqa: E402


def start_workers(
    url: str, count: int, *, concurrency: int, lease: float
) -> list[subprocess.Popen[bytes]]:
    procs = []
    logs = []
    for _ in range(count):
        log = Path(tempfile.mkstemp(prefix="taskloom-bench-worker-", suffix=".log")[1])
        logs.append(log)
        with log.open("wb") as sink:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "taskloom",
                        "worker",
                        "--db",
                        url,
                        "--import",
                        str(APP),
                        "--concurrency",
                        str(concurrency),
                        "--lease",
                        str(lease),
                    ],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            )
    for proc, log in zip(procs, logs, strict=True):  # "started:" once it is listening
        while b"started:" not in log.read_bytes():
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited during start-up: {log.read_text()}")
            time.sleep(0.01)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(30)


def throughput(url: str, workers: int, repeats: int) -> dict[str, Any]:
    procs = start_workers(url, workers, concurrency=16, lease=10)
    try:
        with Client(url) as client:

            def batch() -> None:
                run_ids = [client.submit("pg_fan100") for _ in range(100)]
                for run_id in run_ids:
                    assert client.result(run_id, timeout=300).status == "Completed"

            figures = measure(batch, repeats=repeats, warmup=1)
    finally:
        stop_workers(procs)
    figures["tasks_per_s"] = 10_000 / figures["median_s"]
    return figures


def round_trip(url: str, repeats: int) -> dict[str, Any]:
    procs = start_workers(url, 1, concurrency=4, lease=10)
    try:
        with Client(url) as client:
            for _ in range(20):
                client.execute("pg_one")
            samples = []
            for _ in range(max(repeats, 5) * 40):
                start = time.perf_counter()
                client.execute("pg_one")
                samples.append(time.perf_counter() - start)
    finally:
        stop_workers(procs)
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "repeats": len(samples),
        "target_s": 0.005,
    }


def takeover(url: str, repeats: int, lease: float = 2.0) -> dict[str, Any]:
    """SIGKILL the worker running a task; time until another worker has run it."""
    samples = []
    with Client(url) as client:
        for _ in range(repeats):
            (victim,) = start_workers(url, 1, concurrency=1, lease=lease)
            run_id = client.submit("pg_sleep", {"sleep": 0.05})
            with psycopg.connect(url) as conn:
                while conn.execute(
                    "SELECT claimed_by FROM task_runs WHERE run_id = %s", (run_id,)
                ).fetchone() == (None,):
                    time.sleep(0.001)
            victim.send_signal(signal.SIGKILL)
            killed = time.time()
            victim.wait()
            rescuers = start_workers(url, 1, concurrency=1, lease=lease)
            result = client.result(run_id, timeout=60)
            assert result.status == "Completed"
            assert result.end_time is not None
            samples.append(result.end_time.timestamp() - killed)
            stop_workers(rescuers)
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "repeats": repeats,
        "lease_s": lease,
        "target_s": lease + 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--case", choices=("all", "throughput", "round-trip", "takeover"), default="all"
    )
    args = parser.parse_args()
    name = f"taskloom_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        sync = conn.execute("SHOW synchronous_commit").fetchone()
    parts = urlsplit(args.url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    print(f"scratch database {name}; synchronous_commit={sync[0] if sync else '?'}")
    cases: dict[str, dict[str, Any]] = {}
    try:
        if args.case in ("all", "throughput"):
            for workers in (1, 2, 4):
                figures = throughput(url, workers, args.repeats)
                cases[f"10,000 no-op tasks (100 runs x 100), {workers} worker(s)"] = figures
                print(f"  {workers} worker(s): {figures['tasks_per_s']:.0f} tasks/s")
        if args.case in ("all", "round-trip"):
            figures = round_trip(url, args.repeats)
            cases["1-task workflow round trip client -> worker -> client"] = figures
            print(f"  round trip: median {figures['median_s'] * 1000:.2f} ms")
        if args.case in ("all", "takeover"):
            cases["killed worker's task completed elsewhere (lease 2 s)"] = takeover(
                url, args.repeats
            )
    finally:
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report("postgres", cases, args.out)
    _ = os.cpu_count()


if __name__ == "__main__":
    main()
