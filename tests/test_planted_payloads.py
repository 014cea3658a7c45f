"""Nothing the engine reads back from a journal or its files runs code (SQLite).

Each test plants a pickle whose loading creates a marker file where an
attacker with write access to the journal or the artifact directory could
put it, drives the engine through the public API, and checks the marker was
never created (the payload itself is proven live first). The PostgreSQL
worker path is in test_postgres_planted.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import taskloom
from planted import as_01_value, pickle_bytes, prove_live
from taskloom import (
    TaskExecutionError,
    TaskFailedError,
    TaskloomError,
    ValueRefusedError,
    flow,
    task,
)
from taskloom.artifacts import ArtifactRef, FileArtifactStore, get_store
from taskloom.core import signing
from taskloom.core.shared_engines import shutdown_engines
from taskloom.dag.plan import DagPlan
from taskloom.journal import open_journal
from taskloom.steps import Client, Context, Directive, Workflow
from taskloom.steps.codec import decode_result, rebuild_error

APP = textwrap.dedent(
    """
    import os, signal, sys
    from taskloom import flow, task

    @task
    def produce(n: int) -> dict:
        return {"n": n}

    @task
    def consume(value: dict) -> int:
        flag = os.environ["PLANT_FLAG"]
        if not os.path.exists(flag):
            open(flag, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # die with produce recorded, consume in flight
        with open(os.environ["PLANT_RAN"], "a") as f:
            f.write("consume ran\\n")
        return value["n"] + 1

    @flow(name="planted")
    def planted(n: int):
        return consume(produce(n))

    if __name__ == "__main__":
        planted.run(int(sys.argv[2]), db=sys.argv[1])
    """
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(signing.KEY_ENV_VAR, raising=False)
    monkeypatch.delenv(signing.TRUST_UNSIGNED_ENV_VAR, raising=False)
    taskloom.configure_pickle()
    yield
    shutdown_engines(wait=False)
    taskloom.configure_pickle()


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "payload-ran"
    prove_live(path)
    return path


def _crashed_run(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """A flow run whose process died (SIGKILL) with ``produce#0`` recorded; its app module."""
    app = tmp_path / "planted_app.py"
    app.write_text(APP)
    monkeypatch.setenv("PLANT_FLAG", str(tmp_path / "killed-once"))
    monkeypatch.setenv("PLANT_RAN", str(tmp_path / "consume-ran"))
    done = subprocess.run(
        [sys.executable, str(app), db_url, "41"], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == -9, done.stderr
    journal = open_journal(db_url)
    run = journal.list_runs(limit=1)[0]
    rows = {t.task_key: t.status for t in journal.get_tasks(run.run_id)}
    journal.close()
    assert rows["produce#0"] == "Completed" and rows["consume#0"] != "Completed"
    return run.run_id, _load(app)


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sql(db_url: str, statement: str, *params: Any) -> None:
    conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    with conn:
        assert conn.execute(statement, params).rowcount == 1
    conn.close()


def test_a_planted_task_result_fails_the_resumed_run_without_loading_it(
    tmp_path: Path, db_url: str, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, _ = _crashed_run(tmp_path, db_url, monkeypatch)
    _sql(
        db_url,
        "UPDATE task_runs SET output_json = ? WHERE run_id = ? AND task_key = 'produce#0'",
        as_01_value(marker),
        run_id,
    )
    with pytest.raises(TaskExecutionError, match=r"consume#0.*refused.*unsigned pickle") as info:
        taskloom.resume(run_id, db=db_url, timeout=30)
    assert isinstance(info.value.original, TaskFailedError)  # the recorded text of the refusal
    assert not marker.exists()
    assert not (tmp_path / "consume-ran").exists()  # the dependent never started
    journal = open_journal(db_url)
    assert journal.get_run(run_id).status == "Failed"  # type: ignore[union-attr]
    journal.close()


def test_planted_run_inputs_fail_the_run_on_resume(
    tmp_path: Path, db_url: str, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id, _ = _crashed_run(tmp_path, db_url, monkeypatch)
    planted = json.dumps(
        {
            "args": [json.loads(as_01_value(marker))],
            "kwargs": {},
            "failure_policy": "fail_fast",
            "max_concurrency": None,
        }
    )
    # Where SQLite keeps a run's input (schema 5: beside the run row).
    _sql(db_url, "UPDATE run_inputs SET input_json = ? WHERE run_id = ?", planted, run_id)
    with pytest.raises(TaskloomError, match=r"recorded inputs were refused.*unsigned pickle"):
        taskloom.resume(run_id, db=db_url, timeout=30)
    assert not marker.exists()
    journal = open_journal(db_url)
    run = journal.get_run(run_id)
    journal.close()
    assert run is not None and run.status == "Failed" and "TRUST_UNSIGNED" in (run.error or "")


def test_the_opt_in_loads_a_trusted_01_journal(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal of taskloom 0.1 (unsigned pickles) still resumes when the user trusts it."""
    run_id, _ = _crashed_run(tmp_path, db_url, monkeypatch)
    legacy = json.dumps(
        {
            "__taskloom__": "pickle",
            "b64": __import__("base64").b64encode(__import__("pickle").dumps({"n": 1})).decode(),
        }
    )
    _sql(
        db_url,
        "UPDATE task_runs SET output_json = ? WHERE run_id = ? AND task_key = 'produce#0'",
        legacy,
        run_id,
    )
    taskloom.configure_pickle(trust_unsigned=True)
    assert taskloom.resume(run_id, db=db_url, timeout=30) == 2


def test_a_planted_run_result_is_refused_when_read(db_url: str, marker: Path) -> None:
    @task
    def one() -> int:
        return 1

    @flow
    def finished() -> Any:
        return one()

    assert finished.run(db=db_url) == 1
    journal = open_journal(db_url)
    run_id = journal.list_runs(limit=1)[0].run_id
    journal.close()
    _sql(db_url, "UPDATE runs SET final_json = ? WHERE run_id = ?", as_01_value(marker), run_id)
    with pytest.raises(ValueRefusedError, match="unsigned pickle"):
        taskloom.resume(run_id, db=db_url)
    assert not marker.exists()


def test_a_planted_cache_entry_is_a_miss(
    tmp_path: Path, db_url: str, marker: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls = tmp_path / "calls"

    @task(cache_ttl=3600)
    def expensive(x: int) -> int:
        with calls.open("a") as f:
            f.write("x")
        return x * 2

    @flow
    def cached(x: int) -> Any:
        return expensive(x)

    assert cached.run(4, db=db_url) == 8
    conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    with conn:
        changed = conn.execute("UPDATE cache_entries SET value_json = ?", (as_01_value(marker),))
        assert changed.rowcount == 1
    conn.close()
    assert cached.run(4, db=db_url) == 8
    assert calls.read_text() == "xx"  # recomputed instead of loaded
    assert not marker.exists()
    assert "refused, treating as a miss" in caplog.text


def test_planted_artifact_files_are_refused(tmp_path: Path, marker: Path) -> None:
    store = FileArtifactStore(tmp_path / "artifacts")
    # An artifact of taskloom 0.1: a bare pickle file.
    (tmp_path / "artifacts" / "abc123").write_bytes(pickle_bytes(marker))
    with pytest.raises(ValueRefusedError, match=r"artifact abc123.*unsigned pickle"):
        store.get(ArtifactRef("abc123"))
    # A signed one whose body was swapped.
    taskloom.configure_pickle(key="artifact-key")
    ref = store.put(object.__new__(_Opaque), allow_pickle=True)
    path = tmp_path / "artifacts" / ref.key
    header = path.read_bytes().partition(b"\n")[0]
    path.write_bytes(header + b"\n" + pickle_bytes(marker))
    with pytest.raises(ValueRefusedError, match="signature does not match"):
        store.get(ref)
    # A ref pointing outside the directory.
    with pytest.raises(ValueRefusedError, match="hex id"):
        store.get(ArtifactRef("../../etc/passwd"))
    assert not marker.exists()


class _Opaque:
    """A class the safe codec cannot record."""


def test_artifacts_round_trip_safely_and_pickle_only_on_opt_in(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "artifacts")
    raw = b"\x00binary" * 100
    assert store.get(store.put(raw)) == raw
    value = {"rows": [(1, "a"), (2, "b")], "when": __import__("datetime").date(2026, 1, 1)}
    assert store.get(store.put(value)) == value
    with pytest.raises(TypeError, match=r"_Opaque.*serializer='pickle'"):
        store.put(_Opaque())
    with pytest.raises(TypeError, match="no signing key"):
        store.put(_Opaque(), allow_pickle=True)
    taskloom.configure_pickle(key="k")
    assert isinstance(store.get(store.put(_Opaque(), allow_pickle=True)), _Opaque)


def test_a_persisted_task_that_opts_in_pickles_its_artifact(db_url: str) -> None:
    taskloom.configure_pickle(key="persist-key")

    @task(persist=True, serializer="pickle")
    def big() -> Any:
        return _Opaque()

    @task
    def kind(ref: ArtifactRef) -> str:
        return type(get_store().get(ref)).__name__

    @flow
    def persisted() -> Any:
        return kind(big())

    assert persisted.run(db=db_url) == "_Opaque"


def test_step_results_and_errors_read_back_run_no_code(tmp_path: Path, marker: Path) -> None:
    # An operation's recorded result is JSON: a pickle tag stays a dict.
    assert decode_result(as_01_value(marker), dict)["__taskloom__"] == "pickle"
    # A recorded error naming a module that is not imported is not imported.
    module = tmp_path / "planted_errors_mod.py"
    module.write_text(f"open({str(marker)!r}, 'a').write('imported')\nclass Boom(Exception): ...\n")
    sys.path.insert(0, str(tmp_path))
    try:
        text = json.dumps(
            {
                "error": {
                    "module": "planted_errors_mod",
                    "qualname": "Boom",
                    "args": ["x"],
                    "message": "x",
                }
            }
        )
        assert isinstance(rebuild_error(text, "task failed"), TaskFailedError)
        assert "planted_errors_mod" not in sys.modules
        # An exception of a module already imported still comes back as itself.
        text = json.dumps(
            {
                "error": {
                    "module": "builtins",
                    "qualname": "KeyError",
                    "args": ["k"],
                    "message": "'k'",
                }
            }
        )
        assert isinstance(rebuild_error(text, "task failed"), KeyError)
    finally:
        sys.path.remove(str(tmp_path))
    assert not marker.exists()


def test_a_planted_event_payload_reaches_the_handler_as_data(db_url: str, marker: Path) -> None:
    wf = Workflow(workflow_type="PlantedEvent")

    @wf.start()
    async def start(ctx: Context) -> Directive:
        return ctx.next.wait()

    @wf.event("go")
    async def go(ctx: Context, payload: Any) -> Directive:
        ctx.store.put("seen", payload)
        return ctx.next.complete({"kind": type(payload).__name__})

    client = Client(db_url)
    handle = client.start_workflow(wf, "planted-event")
    planted = json.loads(as_01_value(marker))
    handle.send("go", {"payload": planted})
    assert handle.result(timeout=20) == {"kind": "dict"}
    assert [e["data"] for e in handle.history() if e["kind"] == "event_received"]
    assert not marker.exists()


def test_a_planted_dag_context_is_plain_data(marker: Path) -> None:
    from taskloom import WorkflowBuilder

    with WorkflowBuilder("planted_dag") as builder:

        @task(id="first")
        def first(ctx: Any) -> Any:
            return ctx

        @task(id="second", dependencies=["first"])
        def second(ctx: Any) -> Any:
            return ctx

    plan = DagPlan(builder.build())
    planted = json.dumps({"value": json.loads(as_01_value(marker))})
    invocation = plan.prepare(plan.nodes["second"], {"first": planted}, "{}")
    assert invocation.args[0].get("value")["__taskloom__"] == "pickle"
    assert not marker.exists()


def test_the_environment_is_clean() -> None:
    assert os.environ.get(signing.TRUST_UNSIGNED_ENV_VAR) is None


STEP_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from taskloom import task
    from taskloom.steps import Client, Context, Directive, Workflow

    SIDE, DB = sys.argv[2], sys.argv[3]

    def note(text):
        with open(SIDE, "a") as f:
            f.write(text + "\\n")
            f.flush()
            os.fsync(f.fileno())

    wf = Workflow(workflow_type="PlantedStep")

    @task
    async def fetch() -> dict:
        note("fetch")
        return {"rows": 3}

    @wf.start()
    async def start(ctx: Context) -> Directive:
        data = await fetch()
        if os.environ.get("CRASH") == "1":
            note("waiting")
            await asyncio.sleep(60)  # killed here, fetch recorded
        return ctx.next.complete({"kind": type(data).__name__, "keys": sorted(data)})

    client = Client(DB)
    if sys.argv[1] == "run":
        client.start_workflow("PlantedStep", "planted-step", None)
        asyncio.run(asyncio.sleep(120))
    else:
        print(json.dumps(client.get_handle("planted-step").result(timeout=20)))
    """
)


@pytest.mark.timeout(90)
def test_a_planted_step_operation_result_replays_as_data(tmp_path: Path, marker: Path) -> None:
    from crashkit import kill_when_reached, run_to_end

    script = tmp_path / "planted_step.py"
    script.write_text(STEP_SCRIPT)
    side = tmp_path / "side.txt"
    db = f"sqlite:///{tmp_path / 'steps.db'}"
    env = {**os.environ, "CRASH": "1"}
    kill_when_reached([str(script), "run", str(side), db], side, "waiting", env=env)
    conn = sqlite3.connect(tmp_path / "steps.db")
    with conn:
        changed = conn.execute(
            "UPDATE task_runs SET output_json = ? WHERE run_id = 'planted-step' "
            "AND task_key LIKE '%:fetch' AND status = 'Completed'",
            (as_01_value(marker),),
        )
        assert changed.rowcount == 1
    conn.close()
    env.pop("CRASH")
    last = run_to_end([str(script), "resume", str(side), db], env=env)
    # The replayed operation returned the planted JSON as a dict; nothing was unpickled.
    assert json.loads(last) == {"kind": "dict", "keys": ["__taskloom__", "b64"]}
    assert side.read_text().split("\n")[:-1] == ["fetch", "waiting"]  # fetch not re-run
    assert not marker.exists()
