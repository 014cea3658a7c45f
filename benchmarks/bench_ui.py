"""What the dashboard costs on large journals (SQLite; PostgreSQL with --pg URL).

Cases (each the full request through the app: query, render, response):

* the runs page over a journal of 100,000 runs: first page, filtered by
  status / workflow / style / time / id prefix, a deep page (keyset), the
  JSON API, and a live page's poll when nothing changed;
* a run of 10,000 tasks (a DAG 100 layers x 100 tasks, 3 events a task):
  opening its page, its graph, a live poll, its timeline; and a flow run
  whose fan-out made 10,000 calls.

Usage: python benchmarks/bench_ui.py [--repeats 15] [--runs 100000] [--pg URL] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from common import measure, report

from taskloom.journal.base import Journal
from taskloom.journal.records import Batch, EventRecord, RunRecord, TaskRecord
from taskloom.journal.urls import open_journal
from taskloom.ui.app import UiConfig, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

STATUSES = ["Completed"] * 7 + ["Failed", "Running", "Cancelled"]
KINDS = ["dag", "flow", "steps"]


def fill_runs(journal: Journal, count: int) -> None:
    """``count`` runs of 50 workflows, one every 10 s (rows as the engine writes them)."""
    rng = random.Random(7)
    start = time.time() - count * 10
    rows = []
    for i in range(count):
        status = rng.choice(STATUSES)
        created = start + i * 10
        rows.append(
            (
                f"{rng.getrandbits(128):032x}",
                f"workflow-{i % 50}",
                "v1",
                KINDS[i % 3],
                status,
                '{"n": 1}',
                None if status == "Running" else '{"n": 2}',
                "ValueError: boom" if status == "Failed" else None,
                None,
                created,
                None if status == "Running" else created + 1.5,
            )
        )
    insert = (
        "INSERT INTO runs (run_id, workflow_name, workflow_version, kind, status, input_json, "
        "final_json, error, owner_id, created_at, ended_at) VALUES "
    )
    conn: Any
    if journal.url.startswith("sqlite"):
        conn = journal._conn  # type: ignore[attr-defined]
        conn.execute("BEGIN")
        conn.executemany(insert + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    else:
        with journal.transaction() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.executemany(insert + "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        with journal.connection() as conn:  # type: ignore[attr-defined]
            conn.execute("ANALYZE runs")


def big_dag_run(journal: Journal, run_id: str, layers: int = 100, width: int = 100) -> None:
    """A DAG run of layers x width tasks, half done, with its shape and events."""
    keys = [f"step{layer}_{i}" for layer in range(layers) for i in range(width)]
    shape = {
        key: (
            []
            if n < width
            else [keys[n - width], keys[(n - width + 1) % width + (n // width - 1) * width]]
        )
        for n, key in enumerate(keys)
    }
    now = time.time()
    run = RunRecord(run_id, "big-dag", "v1", "dag", "Running", "{}", now - 60)
    done = len(keys) // 2
    tasks = [
        TaskRecord(
            run_id,
            key,
            "Completed" if n < done else ("Running" if n < done + 8 else "Pending"),
            1 if n < done + 8 else 0,
            started_at=now - 50 if n < done + 8 else None,
            ended_at=now - 49 if n < done else None,
            output_json='{"ok": true}' if n < done else None,
            seq=n,
        )
        for n, key in enumerate(keys)
    ]
    journal.create_run(run, tasks)
    journal.record_shape("dag", "big-dag", "v1", "bench", json.dumps(shape))  # type: ignore[attr-defined]
    events = []
    for n, key in enumerate(keys[: done + 8]):
        events.append(
            EventRecord(run_id, "task_started", now - 50 + n * 0.001, key, '{"attempt":1}')
        )
        if n < done:
            events.append(EventRecord(run_id, "task_succeeded", now - 49 + n * 0.001, key, None))
    journal.write(Batch(events=events))


def big_flow_run(journal: Journal, run_id: str, calls: int = 10_000) -> None:
    """A flow run whose fan-out over ``calls`` items was expanded."""
    now = time.time()
    keys = ["load#0", "square", *[f"square[{i}]" for i in range(calls)], "total#0"]
    run = RunRecord(run_id, "big-flow", "v1", "flow", "Running", "{}", now - 30)
    tasks = [
        TaskRecord(run_id, k, "Completed" if i % 2 else "Running", seq=i)
        for i, k in enumerate(keys)
    ]
    journal.create_run(run, tasks)
    shape = {"load#0": [], "square": ["load#0"], "total#0": ["square"]}
    journal.record_shape("flow", "big-flow", "v1", "bench", json.dumps(shape))  # type: ignore[attr-defined]


def startup(url: str) -> None:
    """Start ``taskloom ui`` as a user would and wait for its first page."""
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "taskloom", "ui", "--db", url, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        address = line[line.index("http://") :].split()[0]
        with urllib.request.urlopen(address + "runs?limit=1") as response:
            assert response.status == 200
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL (an empty database)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.pg or f"sqlite:///{Path(tmp) / 'ui.db'}"
        journal = open_journal(url)
        started = time.perf_counter()
        fill_runs(journal, args.runs)
        big_dag_run(journal, "big-dag-run")
        big_flow_run(journal, "big-flow-run")
        built = time.perf_counter() - started
        print(f"journal of {args.runs} runs built in {built:.1f} s ({url.split(':')[0]})")
        client = TestClient(create_app(journal, UiConfig(url)), base_url="http://127.0.0.1")

        def get(path: str) -> Any:
            def call() -> None:
                response = client.get(path)
                assert response.status_code == 200, (
                    path,
                    response.status_code,
                    response.text[:300],
                )

            return call

        first = client.get("/api/runs").json()
        deep = first["next"]
        for _ in range(200):  # 200 pages down (10,000 runs)
            deep = client.get("/api/runs", params={"after": deep}).json()["next"]
        prefix = first["runs"][3]["run_id"][:4]
        event_id = first["event_id"]
        middle = time.time() - args.runs * 5  # the middle of the journal's time span
        day = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(middle))
        day_after = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(middle + 86_400))
        live_id = client.get("/api/runs/big-dag-run/live").json()["event_id"]
        target_page, target_run = 0.300, 1.0
        cases: dict[str, dict[str, Any]] = {}
        pages = {
            f"runs page, {args.runs} runs, newest": "/runs",
            "runs page, status=Failed": "/runs?status=Failed",
            "runs page, workflow=workflow-7": "/runs?workflow=workflow-7",
            "runs page, style=steps & status=Running": "/runs?style=steps&status=Running",
            "runs page, a 1-day window": f"/runs?from={day}&to={day_after}",
            f"runs page, run id prefix ({prefix})": f"/runs?run={prefix}",
            "runs page, 200 pages deep (keyset)": f"/runs?after={deep}",
            "GET /api/runs": "/api/runs",
        }
        for name, path in pages.items():
            cases[name] = measure(get(path), args.repeats) | {"target_s": target_page}
        cases["live poll of the runs page, nothing changed"] = measure(
            get(f"/api/runs?since={event_id}"), args.repeats
        )
        run_pages = {
            "run page, 10,000-task DAG": "/runs/big-dag-run",
            "run page, flow with a 10,000-call fan-out": "/runs/big-flow-run",
        }
        for name, path in run_pages.items():
            client.get(path)  # a fresh run: measured below without its cached drawing too
            cases[name] = measure(get(path), args.repeats) | {"target_s": target_run}

        def uncached() -> None:
            client.app.state.dashboard.browser._drawings.clear()  # type: ignore[attr-defined]
            assert client.get("/runs/big-dag-run").status_code == 200

        cases["run page, 10,000-task DAG, first open (layout)"] = measure(
            uncached, args.repeats
        ) | {"target_s": target_run}
        cases["live poll of the 10,000-task run, changed"] = measure(
            get("/api/runs/big-dag-run/live"), args.repeats
        )
        cases["live poll of the 10,000-task run, nothing changed"] = measure(
            get(f"/api/runs/big-dag-run/live?since={live_id}"), args.repeats
        )
        cases["timeline of the 10,000-task run (API)"] = measure(
            get("/api/runs/big-dag-run/timeline"), args.repeats
        )
        cases["taskloom ui: command to its first page served"] = measure(
            lambda: startup(url), max(3, args.repeats // 3), warmup=1
        ) | {"target_s": 1.0}
        svg = client.get("/runs/big-dag-run/graph").text
        cases["run page, 10,000-task DAG"]["drawn_nodes"] = svg.count('class="node ')
        journal.close()
    report("bench_ui" + ("_pg" if args.pg else ""), cases, args.out)


if __name__ == "__main__":
    main()
