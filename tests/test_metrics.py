"""Prometheus metrics: scrape the endpoint after a known workload and read the values."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import taskloom
from taskloom import Context, DefaultRunner, DefaultRunnerConfig, WorkflowBuilder, task
from taskloom.telemetry.metrics import Metrics


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


def value(text: str, name: str, **labels: str) -> float:
    """One sample of the exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match[1] or "").split(","))) == wanted:
            return float(match[2])
    return 0.0


def _workflows() -> None:
    tries: list[int] = []
    with WorkflowBuilder("metered"):

        @task(id="flaky", retry_attempts=3, retry_delay_ms=1)
        def flaky(ctx: Context) -> Context:
            tries.append(1)
            if len(tries) < 2:
                raise ConnectionError("once")
            return ctx

        @task(id="after", dependencies=["flaky"])
        def after(ctx: Context) -> Context:
            return ctx

    with WorkflowBuilder("slow"):

        @task(id="sleepy", timeout=0.05, retry_attempts=1)
        async def sleepy(ctx: Context) -> Context:
            import asyncio

            await asyncio.sleep(5)
            return ctx


def test_a_runner_serves_what_its_runs_did(db_url: str) -> None:
    _workflows()
    config = DefaultRunnerConfig(metrics_port=0)
    with DefaultRunner(db_url, config) as runner:
        assert runner.execute("metered", Context()).status == "Completed"
        assert runner.execute("slow", Context()).status == "Failed"
        taskloom.flush_events()
        text = scrape(runner.metrics.port)
    metered = {"workflow": "metered"}
    assert value(text, "taskloom_tasks_started_total", task="flaky", **metered) == 2
    assert value(text, "taskloom_tasks_retried_total", task="flaky", **metered) == 1
    assert value(text, "taskloom_tasks_succeeded_total", task="flaky", **metered) == 1
    assert value(text, "taskloom_tasks_succeeded_total", task="after", **metered) == 1
    assert value(text, "taskloom_task_duration_seconds_count", task="after", **metered) == 1
    assert value(text, "taskloom_task_ready_to_start_seconds_count", **metered) == 3
    assert value(text, "taskloom_runs_ended_total", status="Completed", **metered) == 1
    assert value(text, "taskloom_active_runs", **metered) == 0
    slow = {"workflow": "slow", "task": "sleepy"}
    assert value(text, "taskloom_tasks_timed_out_total", **slow) == 1
    assert value(text, "taskloom_tasks_failed_total", **slow) == 1
    assert value(text, "taskloom_runs_ended_total", workflow="slow", status="Failed") == 1
    assert "run_id" not in text  # bounded labels only


def test_metrics_without_the_extra_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install 'taskloom\[metrics\]'"):
        Metrics()


WORKER_APP = """
import taskloom

@taskloom.task
def square(x: int) -> int:
    return x * x

@taskloom.flow
def squares(n: int) -> list[int]:
    return [square(i) for i in range(n)]
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_taskloom_worker_metrics_port(pg_url: str, tmp_path: Path) -> None:
    app = tmp_path / "metered_app.py"
    app.write_text(WORKER_APP)
    port = _free_port()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskloom",
            "worker",
            "--db",
            pg_url,
            "--import",
            str(app),
            "--metrics-port",
            str(port),
        ],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    try:
        assert worker.stderr is not None
        for line in worker.stderr:  # wait for the event we mean: the endpoint is up
            if "metrics on http://" in line:
                break
        sys.path.insert(0, str(tmp_path))
        import metered_app  # type: ignore[import-not-found]

        handle = metered_app.squares.submit(4, db=pg_url)
        assert handle.result(timeout=60) == [0, 1, 4, 9]
        deadline = time.monotonic() + 30
        while True:  # events reach the metrics on their own thread, just after the commit
            text = scrape(port)
            done = value(text, "taskloom_tasks_succeeded_total", workflow="squares", task="square")
            if done == 4 or time.monotonic() > deadline:
                break
        assert done == 4
        assert value(text, "taskloom_tasks_started_total", workflow="squares", task="square") == 4
        assert value(text, "taskloom_worker_claim_seconds_count") >= 1
        assert value(text, "taskloom_worker_completions_fenced_total") == 0
        assert value(text, "taskloom_worker_leases_expired_total") == 0
        assert "taskloom_queue_depth 0.0" in text
    finally:
        worker.terminate()
        worker.wait(30)
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))
