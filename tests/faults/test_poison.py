"""A poison task -- one whose body kills its process -- no longer crash-loops every runner.

Each runner that resumes the run dies too; the deaths during the task's
attempt are counted durably (the recovering runner counts them in the
transaction that takes the run over; a worker, when it takes over an
expired lease), and once ``max_process_deaths`` (default 3) is reached the
attempt fails with "the process running it died N times" and the task's
retry policy decides what comes next.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from faultkit import APPS, SideLog, query, spawn, suite_env, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses signals")

POISON_APP = APPS / "poison_app.py"


def _env(side: SideLog, how: str, **extra: str) -> dict[str, str]:
    env = suite_env(side, POISON_HOW=how, **extra)
    env.pop("TASKLOOM_MAX_PROCESS_DEATHS")  # the default limit: 3
    return env


def _task(db: str, key: str) -> tuple[str, int, str | None]:
    ((status, attempt, error),) = query(
        db, f"SELECT status, attempt, error FROM task_runs WHERE task_key = '{key}'"
    )
    return status, attempt, error


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_poison_task_fails_after_three_process_deaths(tmp_path: Path, how: str) -> None:
    side = SideLog(tmp_path / "side")
    db = f"sqlite:///{tmp_path / 'poison.db'}"
    env = _env(side, how)
    log = tmp_path / "runners.log"
    first = spawn([str(POISON_APP), db, str(side.dir), "start"], env, log)
    assert first.wait(60) == (3 if how == "exit" else -9)
    deaths = 1
    while True:
        runner = spawn([str(POISON_APP), db, str(side.dir), "resume"], env, log)
        code = runner.wait(60)
        if code == 0:
            break
        assert code == (3 if how == "exit" else -9), log.read_text()[-3000:]
        deaths += 1
        assert deaths <= 4, f"the poison task killed {deaths} runners"
    # The first death may go uncounted (the task's start is recorded lazily,
    # and it died within milliseconds); every later one is counted.
    assert deaths in (3, 4)
    status, attempt, error = _task(db, "poison")
    assert status == "Failed"
    assert attempt == 1
    assert error is not None and "the process running it died 3 times" in error
    assert "ProcessDiedError" in error
    ((run_status,),) = query(db, "SELECT status FROM runs")
    assert run_status == "Failed"


@pytest.mark.timeout(90)
def test_a_retry_policy_decides_after_the_deaths(tmp_path: Path) -> None:
    """The attempt that killed its processes fails; the retry runs and succeeds."""
    side = SideLog(tmp_path / "side")
    db = f"sqlite:///{tmp_path / 'poison.db'}"
    env = _env(side, "exit", POISON_RETRIES="1", POISON_DEATHS="4")
    log = tmp_path / "runners.log"
    spawn([str(POISON_APP), db, str(side.dir), "start"], env, log).wait(60)
    for _ in range(8):
        if spawn([str(POISON_APP), db, str(side.dir), "resume"], env, log).wait(60) == 0:
            break
    status, attempt, _ = _task(db, "poison")
    assert status == "Completed"
    assert attempt == 2
    kinds = [k for (k,) in query(db, "SELECT data_json FROM events WHERE kind = 'task_retry'")]
    assert len(kinds) == 1 and "the process running it died 3 times" in kinds[0]


@pytest.mark.timeout(120)
def test_poison_task_on_workers_fails_after_three_worker_deaths(
    pg_url: str, tmp_path: Path
) -> None:
    """A worker that dies holding a claim: the next claim of the expired lease counts it."""
    import importlib.util

    from faultkit import WorkerProc

    from taskloom.distributed.client import Client

    side = SideLog(tmp_path / "side")
    spec = importlib.util.spec_from_file_location("poison_app", POISON_APP)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    workers: list[WorkerProc] = []
    try:
        with Client(pg_url) as client:
            run_id = client.submit("poison", {"tag": "poison"})
            died = 0
            while True:
                worker = WorkerProc(
                    pg_url, side, tmp_path, lease=1.0, app=POISON_APP, env=_env(side, "exit")
                )
                workers.append(worker)

                def dead_or_ended(worker: WorkerProc = worker) -> bool:
                    run = client.journal.get_run(run_id)
                    return not worker.alive() or (run is not None and run.status != "Running")

                wait_until(
                    dead_or_ended,
                    60,
                    "the worker to die or the run to end",
                    poll=0.05,
                )
                if worker.alive():
                    break
                died += 1
                assert died <= 3, "a fourth worker died of the poison task"
            result = client.result(run_id, timeout=30)
        assert died == 3
        assert result.status == "Failed"
        status, attempt, error = _task(pg_url, "poison")
        assert (status, attempt) == ("Failed", 1)
        assert error is not None and "the process running it died 3 times" in error
    finally:
        for worker in workers:
            worker.stop()


def test_bad_death_limits_are_refused_early(monkeypatch: pytest.MonkeyPatch) -> None:
    from taskloom import DefaultRunnerConfig
    from taskloom.core.deaths import ENV_VAR, death_limit

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert death_limit() == 3
    assert death_limit(5) == 5
    assert death_limit(0) is None
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match=r"max_process_deaths=.*give an int >= 1"):
            DefaultRunnerConfig(max_process_deaths=bad)  # type: ignore[arg-type]
    monkeypatch.setenv(ENV_VAR, "many")
    with pytest.raises(ValueError, match=r"\$TASKLOOM_MAX_PROCESS_DEATHS='many'"):
        death_limit()
    monkeypatch.setenv(ENV_VAR, "0")
    assert death_limit() is None
    monkeypatch.setenv(ENV_VAR, "7")
    assert death_limit() == 7
