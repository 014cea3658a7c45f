"""PostgreSQL itself restarted under load: workers and clients reconnect, no run is lost.

The server is a throwaway cluster of this module's own (``pgserver``'s
initdb/pg_ctl helper), never the shared one: it is stopped (``-m fast``,
which cuts every session, mid-transaction or not) and started again while
two workers run all three styles and the client waits for results.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import (
    SEED,
    SideLog,
    Tally,
    WorkerProc,
    check,
    fenced_off,
    load_styles_app,
    reference_outputs,
    rng_for,
    scaled,
    settle,
    unfinished,
    unwritten_steps,
    wait_progress,
    wait_until,
)
from test_faults_workers import LEASE, RUNS_PER_STYLE, Submitter

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses pg_ctl")


@pytest.fixture(scope="module")
def own_server() -> Iterator[object]:
    """A PostgreSQL cluster this module may stop and start."""
    try:
        import psycopg  # noqa: F401

        from pgserver import start_throwaway

        server = start_throwaway()
    except Exception as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but no throwaway PostgreSQL server could be started: {exc}")
        pytest.skip(f"cannot start a throwaway PostgreSQL server: {exc}")
    yield server
    server.stop()


@pytest.fixture
def fleet() -> Iterator[list[WorkerProc]]:
    started: list[WorkerProc] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.mark.timeout(scaled(150, 3600))
def test_postgres_restarted_under_load(
    own_server: object, tmp_path: Path, fleet: list[WorkerProc]
) -> None:
    from pgserver import Server, create_database

    assert isinstance(own_server, Server)
    target = scaled(2, 30)
    rng = rng_for("pg-restart")
    url = create_database(own_server, f"faults_{uuid.uuid4().hex[:8]}")
    app = load_styles_app()
    side = SideLog(tmp_path / "side")
    tally = Tally("pg-restart", "postgresql", f"{SEED}:pg-restart")
    fleet.extend(WorkerProc(url, side, tmp_path, lease=LEASE) for _ in range(2))
    # A worker that cannot reach the database when it starts exits (its
    # supervisor restarts it); the restarts here are for running workers.
    for worker in fleet:
        wait_until(lambda w=worker: "started:" in w.text(), 60, f"worker {worker.pid} to start")
    submitter = Submitter(app, url)
    restarts = 0
    started = time.monotonic()
    try:
        while restarts < target:
            if unfinished(url) == 0:
                submitter.submit()
            if not wait_progress(side, rng.randint(1, 20), lambda: unfinished(url) == 0):
                continue
            own_server.restart()
            restarts += 1
        submitter.wait_all()
    finally:
        submitter.close()
    tally.extra["restarts"] = restarts
    tally.extra["seconds"] = round(time.monotonic() - started, 1)
    survived = settle(fleet)
    check(
        url,
        side,
        tally,
        reference=reference_outputs(tmp_path, submitter.batches, RUNS_PER_STYLE),
        fenced=fenced_off(url, fleet),
        replayed=unwritten_steps(url, fleet),
    )
    assert survived, "a worker died of the restart"
