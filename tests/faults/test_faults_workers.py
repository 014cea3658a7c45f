"""Distributed workers under faults: SIGKILL at random, SIGSTOP past the lease, dropped connections.

Workers are ``taskloom worker`` processes importing ``apps/styles_app.py``;
the test process is only a client. Every style runs on them at once.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import (
    HEAVY,
    SEED,
    SideLog,
    Snapshot,
    Tally,
    WorkerProc,
    check,
    fenced_off,
    load_styles_app,
    query,
    reference_outputs,
    rng_for,
    scaled,
    settle,
    snapshot,
    unfinished,
    unwritten_steps,
    wait_progress,
    wait_until,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses signals")

RUNS_PER_STYLE = 2
LEASE = 2.0
MID_TRANSACTION = " AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')"


@pytest.fixture
def fleet() -> Iterator[list[WorkerProc]]:
    started: list[WorkerProc] = []
    yield started
    for worker in started:
        worker.stop()


class Submitter:
    """Submits batches of the styles app's runs as a client, and waits for their results."""

    def __init__(self, app: Any, url: str, runs: int = RUNS_PER_STYLE) -> None:
        from taskloom.distributed.client import Client
        from taskloom.steps import Client as StepClient

        self.app = app
        self.url = url
        self.client = Client(url)
        self.steps = StepClient(url, execute=False)
        self.runs = runs
        self.waits: dict[str, Any] = {}
        self.batches: list[int] = []

    def submit(self) -> None:
        batch = len(self.batches)
        self.batches.append(batch)
        tags = self.app.tags(batch, self.runs)
        for tag in tags["dag"]:
            run_id = self.client.submit(self.app.DAG, {"tag": tag})
            self.waits[tag] = lambda run_id=run_id: self.client.result(run_id, timeout=120)
        for tag in tags["flow"]:
            handle = self.app.fault_flow.submit(tag, db=self.url)
            self.waits[tag] = lambda handle=handle: handle.result(timeout=120)
        for tag in tags["steps"]:
            handle = self.steps.start_workflow(self.app.STEPS, tag, self.app.step_input(tag))
            self.waits[tag] = lambda handle=handle: handle.result(timeout=120)

    def wait_all(self) -> None:
        """Every run ends, and the clients learn it through their own API."""
        for tag, wait in self.waits.items():
            result = wait()
            status = getattr(result, "status", "Completed")
            assert status == "Completed", (tag, status)

    def close(self) -> None:
        from taskloom.distributed.client import close_shared_clients

        self.client.close()
        close_shared_clients()


@pytest.mark.timeout(scaled(150, 3600))
def test_sigkill_workers_at_random_moments(
    pg_url: str, tmp_path: Path, fleet: list[WorkerProc]
) -> None:
    target = scaled(8, 150)
    rng = rng_for("pg-kills")
    app = load_styles_app()
    side = SideLog(tmp_path / "side")
    tally = Tally("pg-kills", "postgresql", f"{SEED}:pg-kills")
    fleet.extend(WorkerProc(pg_url, side, tmp_path, lease=LEASE) for _ in range(3))
    submitter = Submitter(app, pg_url)
    snapshots: list[Snapshot] = []
    killed: set[int] = set()
    started = time.monotonic()
    try:
        while not all(tally.kills[s] >= target for s in ("dag", "flow", "steps")):
            if unfinished(pg_url) == 0:
                submitter.submit()
            if not wait_progress(side, rng.randint(1, 12), lambda: unfinished(pg_url) == 0):
                continue
            live = [w for w in fleet if w.alive()]
            victim = live[rng.randrange(len(live))]
            time.sleep(rng.random() * 0.02)
            victim.kill()
            killed.add(victim.pid)
            snap = snapshot(pg_url, side, victim.pid)
            snapshots.append(snap)
            tally.count_kill(snap)
            fleet.append(WorkerProc(pg_url, side, tmp_path, lease=LEASE))
        submitter.wait_all()
    finally:
        submitter.close()
    tally.extra["seconds"] = round(time.monotonic() - started, 1)
    tally.extra["workers_killed"] = len(killed)
    settle(fleet)
    check(
        pg_url,
        side,
        tally,
        reference=reference_outputs(tmp_path, submitter.batches, RUNS_PER_STYLE),
        snapshots=snapshots,
        killed=killed,
        fenced=fenced_off(pg_url, fleet),
        replayed=unwritten_steps(pg_url, fleet),
    )


#: One task per style whose body the frozen worker is made to hold.
HELD = {"dag": "b1", "flow": "fl_square#2", "steps": "st_ship"}


@pytest.mark.skipif(
    not HEAVY,
    reason="runs with TASKLOOM_FAULTS_HEAVY=1 only: under a loaded whole suite one of its "
    "runs has not ended within 120 s after the freeze (open defect, docs/reliability.md); "
    "the default suite covers a frozen worker in test_postgres_workers",
)
@pytest.mark.timeout(300)
def test_sigstopped_worker_is_fenced_off_and_its_side_effect_is_the_only_duplicate(
    pg_url: str, tmp_path: Path, fleet: list[WorkerProc]
) -> None:
    app = load_styles_app()
    side = SideLog(tmp_path / "side")
    for name in HELD.values():
        side.hold(name)
    tally = Tally("pg-sigstop", "postgresql", "fixed")
    frozen = WorkerProc(pg_url, side, tmp_path, lease=1.0, concurrency=6)
    fleet.append(frozen)
    submitter = Submitter(app, pg_url, runs=1)
    try:
        submitter.submit()
        tags = app.tags(0, 1)
        held = {(names[0], HELD[style]) for style, names in tags.items()}

        def frozen_holds_them() -> bool:
            executions = side.executions()
            return all(frozen.pid in executions.get(key, []) for key in held)

        wait_until(frozen_holds_them, 60, "the worker to hold one body of each style")
        frozen.proc.send_signal(signal.SIGSTOP)
        for name in HELD.values():
            side.release(name)
        fleet.append(WorkerProc(pg_url, side, tmp_path, lease=1.0))
        submitter.wait_all()
        frozen.proc.send_signal(signal.SIGCONT)
        # It wakes up, finishes its bodies and tries to record them: rejected.
        wait_until(
            lambda: frozen.text().count("late completion rejected") >= 2,
            60,
            "the frozen worker's late completions to be rejected",
        )
    finally:
        submitter.close()
    settle(fleet)
    fenced = fenced_off(pg_url, fleet)
    for key in held:
        fenced.setdefault(key, set()).add(frozen.pid)
    check(
        pg_url,
        side,
        tally,
        reference=reference_outputs(tmp_path, submitter.batches, 1),
        fenced=fenced,
    )
    executions = side.executions()
    duplicated = {key for key, pids in executions.items() if len(pids) > 1}
    # The held bodies ran twice (frozen, then taken over); anything else the
    # frozen worker had claimed may have too -- each one fenced off.
    assert held <= duplicated, (held, duplicated)
    assert duplicated <= set(fenced), f"duplicates without a fenced completion: {duplicated}"
    # The step run's operation was not recorded by the frozen worker either.
    assert "no longer holds run" in frozen.text()


@pytest.mark.timeout(scaled(120, 1800))
def test_dropped_connections_mid_transaction(
    pg_url: str, tmp_path: Path, fleet: list[WorkerProc]
) -> None:
    """pg_terminate_backend at seeded moments: workers and the client reconnect, nothing is lost
    or recorded twice."""
    target = scaled(8, 100)
    rng = rng_for("pg-terminate")
    app = load_styles_app()
    side = SideLog(tmp_path / "side")
    tally = Tally("pg-terminate", "postgresql", f"{SEED}:pg-terminate")
    fleet.extend(WorkerProc(pg_url, side, tmp_path, lease=LEASE) for _ in range(2))
    submitter = Submitter(app, pg_url)
    database = pg_url.rsplit("/", 1)[1].split("?")[0]
    terminated = 0
    drops = 0
    try:
        while drops < target:
            if unfinished(pg_url) == 0:
                submitter.submit()
            if not wait_progress(side, rng.randint(1, 8), lambda: unfinished(pg_url) == 0):
                continue
            # Mostly the sessions inside a statement or a transaction; every
            # third drop also every idle one (listeners, pooled connections).
            states = "" if drops % 3 == 2 else MID_TRANSACTION
            rows = query(
                pg_url,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE datname = '{database}' AND pid <> pg_backend_pid(){states}",
            )
            terminated += int(rows[0][0])
            drops += 1
        submitter.wait_all()
    finally:
        submitter.close()
    tally.extra["connection_drops"] = drops
    tally.extra["backends_terminated"] = terminated
    survived = settle(fleet)
    check(
        pg_url,
        side,
        tally,
        reference=reference_outputs(tmp_path, submitter.batches, RUNS_PER_STYLE),
        fenced=fenced_off(pg_url, fleet),
        replayed=unwritten_steps(pg_url, fleet),
    )
    assert survived, "a worker died of a dropped connection"


@pytest.mark.timeout(120)
def test_a_lone_worker_frozen_past_its_lease_finishes_its_own_attempt_once(
    pg_url: str, tmp_path: Path, fleet: list[WorkerProc]
) -> None:
    """Its lease expired while no other worker was there (a database restart does the
    same to every worker): awake again, it must not take its own claim over -- that
    ran the held body a second time in the same process, and recorded it twice."""
    app = load_styles_app()
    side = SideLog(tmp_path / "side")
    for name in HELD.values():
        side.hold(name)
    alone = WorkerProc(pg_url, side, tmp_path, lease=1.0, concurrency=6)
    fleet.append(alone)
    submitter = Submitter(app, pg_url, runs=1)
    try:
        submitter.submit()
        held = {(names[0], HELD[style]) for style, names in app.tags(0, 1).items()}
        wait_until(
            lambda: all(alone.pid in side.executions().get(key, []) for key in held),
            60,
            "the worker to hold one body of each style",
        )
        alone.proc.send_signal(signal.SIGSTOP)
        wait_until(
            lambda: (
                query(
                    pg_url,
                    "SELECT count(*) FROM task_runs WHERE status = 'Running' "
                    "AND lease_until < extract(epoch FROM clock_timestamp())",
                )[0][0]
                >= len(held)
            ),
            30,
            "the frozen worker's leases to expire",
            poll=0.05,
        )
        for name in HELD.values():
            side.release(name)
        alone.proc.send_signal(signal.SIGCONT)
        submitter.wait_all()
    finally:
        submitter.close()
    tally = Tally("pg-lone-frozen", "postgresql", "fixed")
    settle(fleet)
    check(pg_url, side, tally, reference=reference_outputs(tmp_path, submitter.batches, 1))
