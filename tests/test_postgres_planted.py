"""A planted pickle in a submitted run's inputs does not run in a ``taskloom worker``.

The reported attack: whoever can write the shared PostgreSQL database puts a
pickle into ``runs.input_json`` of a queued flow run; every worker that
plans the run would unpickle it. Here a real worker process claims such a
run: it must fail the run with the reason and never load the payload.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from planted import as_01_value, prove_live
from taskloom.journal.postgres import PostgresJournal

APP = textwrap.dedent(
    """
    import os
    from taskloom import flow, task

    @task
    def double(n: int) -> int:
        with open(os.environ["PLANT_RAN"], "a") as f:
            f.write("double ran\\n")
        return n * 2

    @flow(name="planted_remote")
    def planted_remote(n: int):
        return double(n)
    """
)


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


def test_a_worker_refuses_a_planted_pickle_in_the_run_inputs(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "payload-ran"
    prove_live(marker)
    ran = tmp_path / "double-ran"
    monkeypatch.setenv("PLANT_RAN", str(ran))
    app = tmp_path / "planted_remote_app.py"
    app.write_text(APP)
    module = _load(app)

    # Submitted while no worker runs, then planted before one starts.
    handle = module.planted_remote.submit(21, db=pg_url)
    planted = json.dumps(
        {
            "args": [json.loads(as_01_value(marker))],
            "kwargs": {},
            "failure_policy": "fail_fast",
            "max_concurrency": None,
        }
    )
    journal = PostgresJournal(pg_url)
    with journal.pool.connection() as conn:
        changed = conn.execute(
            "UPDATE runs SET input_json = %s WHERE run_id = %s", (planted, handle.run_id)
        )
        assert changed.rowcount == 1

    log = tmp_path / "worker.log"
    with log.open("w") as out:
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
                "--poll",
                "0.2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(
                lambda: (
                    (run := journal.get_run(handle.run_id)) is not None and run.status == "Failed"
                ),
                60,
                "the worker to fail the planted run",
            )
        finally:
            worker.terminate()
            worker.wait(30)
    run = journal.get_run(handle.run_id)
    journal.close()
    assert run is not None
    assert "refused" in (run.error or "") and "unsigned pickle" in (run.error or "")
    assert "refused run" in log.read_text()
    assert not marker.exists()
    assert not ran.exists()
    with pytest.raises(Exception, match="refused"):
        handle.result(timeout=10)
