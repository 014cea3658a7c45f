"""The dashboard on a PostgreSQL journal shared by workers: runs, workers, claims, actions."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import taskloom as cloaca
from taskloom.distributed.worker import Worker
from taskloom.journal.urls import open_journal
from taskloom.ui.app import UiConfig, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_workers_claims_cancel_and_retry_on_postgres(pg_schema_url: str) -> None:
    gate = threading.Event()
    attempts: list[int] = []

    with cloaca.WorkflowBuilder("ui_pg") as builder:
        builder.description("held until the test opens the gate")

        @cloaca.task(id="first")
        def first(ctx: cloaca.Context) -> cloaca.Context:
            return ctx

        @cloaca.task(id="held", dependencies=["first"], retry_attempts=1)
        def held(ctx: cloaca.Context) -> cloaca.Context:
            attempts.append(1)
            if not gate.wait(20):
                raise TimeoutError("the gate never opened")
            return ctx

    worker = Worker(pg_schema_url, workflows=["ui_pg"], poll_interval=0.1, lease=5.0).start()
    journal = open_journal(pg_schema_url)
    client = TestClient(create_app(journal, UiConfig(pg_schema_url)), base_url="http://127.0.0.1")
    csrf = {"x-csrf-token": client.get("/api/session").json()["csrf_token"]}
    try:
        with cloaca.DefaultRunner(pg_schema_url, execute=False) as runner:
            run_id = runner.start("ui_pg", cloaca.Context({"secret": "s-1"})).run_id
        # The worker is listed, with the task it holds under its lease.
        claims = wait_for(lambda: client.get("/api/workers").json()["claims"], "a claim")
        assert claims[0]["run_id"] == run_id and claims[0]["task"] == "held"
        workers = client.get("/api/workers").json()["runners"]
        assert worker.worker_id in [w["id"] for w in workers]
        page = client.get("/workers").text
        assert worker.worker_id in page and "held" in page
        # The run's page draws its recorded graph, held running.
        live = client.get(f"/api/runs/{run_id}/live").json()
        assert sorted(live["nodes"].values()) == ["Completed", "Running"]
        assert client.get(f"/runs/{run_id}/graph").text.count('class="edge"') == 1
        assert client.get(f"/api/runs/{run_id}").json()["input"] == {"secret": "***"}
        # Cancel from the dashboard: the queue stops the run.
        assert client.post(f"/api/runs/{run_id}/cancel", json={}, headers=csrf).json() == {
            "cancelled": True
        }
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "Cancelled"
        gate.set()
        # Retry: the cancelled task goes back to the queue; the worker completes the run.
        assert client.post(f"/api/runs/{run_id}/retry", json={}, headers=csrf).status_code == 200
        wait_for(
            lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "Completed",
            "the retried run to complete",
        )
        assert len(attempts) == 2
        again = client.post(f"/api/runs/{run_id}/retry", json={}, headers=csrf)
        assert again.status_code == 400 and "completed" in again.json()["error"]
        # The runs page filters on PostgreSQL too (id prefix through its pattern index).
        found = client.get("/api/runs", params={"run": run_id[:6], "status": "Completed"}).json()
        assert [r["run_id"] for r in found["runs"]] == [run_id]
        assert found["counts"]["Completed"] == 1
    finally:
        gate.set()
        worker.stop(timeout=20)
        journal.close()
    # A worker that stopped is no longer listed.
    reopened = open_journal(pg_schema_url)
    try:
        assert worker.worker_id not in [r.runner_id for r in reopened.list_runners()]
    finally:
        reopened.close()


def test_an_event_sent_from_the_dashboard_wakes_a_distributed_step_run(
    pg_schema_url: str,
) -> None:
    from taskloom.steps import Client, Context, Directive, Workflow

    gatekeeper = Workflow(workflow_type="UiGatekeeper")

    @gatekeeper.start()
    async def start(ctx: Context, door: str) -> Directive:
        ctx.store.put("door", door)
        return ctx.next.wait()

    @gatekeeper.event("open")
    async def opened(ctx: Context, by: str) -> Directive:
        return ctx.next.complete({"door": await ctx.store.get("door"), "by": by})

    worker = Worker(pg_schema_url, workflows=[], poll_interval=0.1).start()
    journal = open_journal(pg_schema_url)
    client = TestClient(create_app(journal, UiConfig(pg_schema_url)), base_url="http://127.0.0.1")
    csrf = {"x-csrf-token": client.get("/api/session").json()["csrf_token"]}
    try:
        Client(pg_schema_url, execute=False).start_workflow("UiGatekeeper", "gate-1", {"door": "d"})
        wait_for(
            lambda: any(
                t["status"] == "Suspended" for t in client.get("/api/runs/gate-1/tasks").json()
            ),
            "the step run to wait",
        )
        page = client.get("/runs/gate-1").text
        assert 'id="send-event"' in page
        sent = client.post(
            "/api/runs/gate-1/events", json={"name": "open", "payload": {"by": "eve"}}, headers=csrf
        )
        assert sent.json() == {"sent": "open"}
        wait_for(
            lambda: client.get("/api/runs/gate-1").json()["status"] == "Completed",
            "the woken run to complete",
        )
        assert client.get("/api/runs/gate-1").json()["result"] == {"door": "d", "by": "eve"}
        assert [s["name"] for s in client.get("/api/runs/gate-1/events").json()["signals"]] == [
            "open"
        ]
    finally:
        worker.stop(timeout=20)
        journal.close()
