"""Tests for the ``taskloom`` command line (taskloom.cli).

Most tests call :func:`taskloom.cli.main` in-process and read its output with
``capsys``; that is fast and shows the real exit code. One test runs
``python -m taskloom`` in a subprocess to prove the entry point itself works.
Workflow definitions are written as small files into ``tmp_path`` because
importing a user's file is exactly what ``taskloom run`` has to get right.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from taskloom import __version__
from taskloom.cli import load_target, main

RUN_ID = re.compile(r"^Run ([0-9a-f]{32})$", re.MULTILINE)

FLOW_SOURCE = """
import taskloom as cloaca

with cloaca.WorkflowBuilder({ok!r}) as builder:
    @cloaca.task(id="prepare")
    def prepare(ctx):
        ctx.set("count", ctx.get("start", 0) + 1)
        return ctx

    @cloaca.task(id="finish", dependencies=["prepare"], retry_attempts=1)
    def finish(ctx):
        if ctx.get("explode"):
            raise RuntimeError("finish exploded\\nsecond line of the error")
        ctx.set("done", True)
        return ctx

with cloaca.WorkflowBuilder({broken!r}) as builder:
    @cloaca.task(id="doomed", retry_attempts=1)
    def doomed(ctx):
        raise ValueError("doomed always fails")
"""


@pytest.fixture(autouse=True)
def _isolate_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Undo what ``load_target`` does to the interpreter: sys.path entries, modules, cwd."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TASKLOOM_DATABASE_URL", raising=False)
    yield
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file is not None and Path(file).is_relative_to(tmp_path):
            del sys.modules[name]


def write_flow(
    directory: Path, filename: str = "flows.py", ok: str = "cli_ok", broken: str = "cli_broken"
) -> Path:
    """A workflow file with one workflow that completes and one that always fails."""
    path = directory / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FLOW_SOURCE.format(ok=ok, broken=broken))
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = cli(capsys, *argv, "--json")
    assert err == ""
    return code, json.loads(out)


def final_context_block(out: str) -> Any:
    """The pretty JSON printed after "Final context:" (it runs to the next blank line)."""
    block = out.split("Final context:\n", 1)[1].split("\n\n", 1)[0]
    return json.loads(block)


# --------------------------------------------------------------------------- run


def test_run_success_prints_result(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    flow = write_flow(tmp_path)
    code, out, err = cli(capsys, "run", f"{flow}:cli_ok", "--db", db_url)

    assert code == 0, err
    assert RUN_ID.search(out)
    assert "status:   Completed" in out
    task_lines = {line.split()[0]: line.split() for line in out.splitlines() if line}
    assert task_lines["prepare"][1:3] == ["Completed", "1"]
    assert task_lines["finish"][1:3] == ["Completed", "1"]
    assert final_context_block(out) == {"count": 1, "done": True}
    assert "taskloom show" not in out  # the traceback hint is for failures only


def test_run_failure_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    flow = write_flow(tmp_path)
    code, out, _ = cli(capsys, "run", f"{flow}:cli_broken", "--db", db_url)

    assert code == 1
    assert "status:   Failed" in out
    assert "ValueError: doomed always fails" in out
    doomed = next(line for line in out.splitlines() if line.startswith("doomed "))
    assert doomed.split()[1:3] == ["Failed", "1"]
    match = RUN_ID.search(out)
    assert match is not None
    assert f"taskloom show {match.group(1)}" in out


def test_run_failure_shows_first_line_of_multiline_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    flow = write_flow(tmp_path)
    code, out, _ = cli(
        capsys, "run", f"{flow}:cli_ok", "--db", db_url, "--context", '{"explode": true}'
    )

    assert code == 1
    finish = next(line for line in out.splitlines() if line.startswith("finish "))
    assert finish.endswith("RuntimeError: finish exploded ...")
    assert "second line" not in finish


def test_run_context_passes_values_through(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    flow = write_flow(tmp_path)
    context = json.dumps({"start": 41, "label": "héllo", "nested": {"xs": [1, 2]}})
    code, out, err = cli(capsys, "run", f"{flow}:cli_ok", "--db", db_url, "--context", context)

    assert code == 0, err
    assert final_context_block(out) == {
        "start": 41,
        "label": "héllo",
        "nested": {"xs": [1, 2]},
        "count": 42,
        "done": True,
    }


def test_run_context_from_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    flow = write_flow(tmp_path)
    (tmp_path / "ctx.json").write_text('{"start": 9}')
    code, document = cli_json(
        capsys, "run", f"{flow}:cli_ok", "--db", db_url, "--context", "@ctx.json"
    )

    assert code == 0
    assert document["final_context"]["count"] == 10


def test_run_json_document(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    flow = write_flow(tmp_path)
    code, document = cli_json(capsys, "run", f"{flow}:cli_broken", "--db", db_url)

    assert code == 1
    assert re.fullmatch(r"[0-9a-f]{32}", document["run_id"])
    assert document["workflow"] == "cli_broken"
    assert document["status"] == "Failed"
    assert "doomed always fails" in document["error_message"]
    start = datetime.fromisoformat(document["start_time"])
    end = datetime.fromisoformat(document["end_time"])
    assert start.tzinfo is not None and start <= end
    [doomed] = document["tasks"]
    assert doomed["task_id"] == "doomed"
    assert doomed["status"] == "Failed"
    assert doomed["attempts"] == 1
    assert doomed["error"] == "ValueError: doomed always fails"
    assert "Traceback (most recent call last)" in doomed["traceback"]
    assert document["final_context"] == {}


def test_run_uses_database_from_environment(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db_url: str,
) -> None:
    flow = write_flow(tmp_path)
    monkeypatch.setenv("TASKLOOM_DATABASE_URL", db_url)
    code, document = cli_json(capsys, "run", f"{flow}:cli_ok")
    assert code == 0

    code, runs = cli_json(capsys, "runs", "--db", db_url)
    assert [run["run_id"] for run in runs] == [document["run_id"]]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ("{bad", "is not valid JSON"),
        ("", "is not valid JSON"),
        ("[1, 2]", "must be a JSON object, got a JSON array"),
        ('"text"', "must be a JSON object, got a JSON string"),
        ("3", "must be a JSON object, got a JSON number"),
        ("null", "must be a JSON object, got a JSON null"),
        ('{"x": NaN}', "NaN is not a JSON value"),
        ("@missing.json", "cannot read"),
    ],
)
def test_run_rejects_bad_context(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str, context: str, expected: str
) -> None:
    flow = write_flow(tmp_path)
    code, out, err = cli(capsys, "run", f"{flow}:cli_ok", "--db", db_url, "--context", context)

    assert code == 2
    assert out == ""
    assert "--context" in err
    assert expected in err
    assert not (tmp_path / "taskloom.db").exists()  # rejected before touching the database


def test_run_unknown_workflow_lists_registered_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    flow = write_flow(tmp_path)
    code, out, err = cli(capsys, "run", f"{flow}:nope", "--db", db_url)

    assert code == 2
    assert out == ""
    assert "no workflow named 'nope'" in err
    assert "'cli_broken', 'cli_ok'" in err


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("flows.py", "missing its ':WORKFLOW' part"),
        ("flows", "missing its ':WORKFLOW' part"),
        (":cli_ok", "missing its ':WORKFLOW' part"),
        ("flows.py:", "names no workflow after ':'"),
        ("missing.py:cli_ok", "file 'missing.py' does not exist"),
        ("sub/:cli_ok", "is a directory"),
        ("no_such_module_for_cli:cli_ok", "no module named 'no_such_module_for_cli'"),
        ("no_such_pkg_for_cli.flows:cli_ok", "no module named 'no_such_pkg_for_cli'"),
        ("bad-name:cli_ok", "neither a module name nor a .py file"),
    ],
)
def test_run_rejects_bad_targets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str, target: str, expected: str
) -> None:
    write_flow(tmp_path)
    (tmp_path / "sub").mkdir()
    code, out, err = cli(capsys, "run", target, "--db", db_url)

    assert code == 2
    assert out == ""
    assert expected in err
    assert "TARGET" in err
    assert "'path/to/file.py:WORKFLOW' or 'package.module:WORKFLOW'" in err


def test_run_reports_exceptions_raised_while_importing_the_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    (tmp_path / "exploding.py").write_text("VALUE = 1 / 0\n")
    code, _, err = cli(capsys, "run", "exploding.py:anything", "--db", db_url)

    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert "exploding.py" in err
    assert "raised ZeroDivisionError: division by zero" in err
    assert "exploding" not in sys.modules


def test_run_reports_missing_dependency_of_a_module_target(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "cli_needs_dep.py").write_text("import cli_dependency_that_is_missing\n")
    monkeypatch.syspath_prepend(str(mods))
    code, _, err = cli(capsys, "run", "cli_needs_dep:wf")

    assert code == 2
    # The module was found; what is missing is its import, and the message must say so.
    assert "importing 'cli_needs_dep' raised ModuleNotFoundError" in err
    assert "cli_dependency_that_is_missing" in err


def test_run_rejects_malformed_database_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    flow = write_flow(tmp_path)
    code, _, err = cli(capsys, "run", f"{flow}:cli_ok", "--db", "not-a-url")

    assert code == 2
    assert "--db" in err
    assert "not-a-url" in err


def test_run_module_target(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db_url: str,
) -> None:
    package = tmp_path / "site" / "cli_pkg"
    write_flow(package, "flows.py", ok="cli_mod_ok", broken="cli_mod_broken")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    code, document = cli_json(capsys, "run", "cli_pkg.flows:cli_mod_ok", "--db", db_url)

    assert code == 0
    assert document["workflow"] == "cli_mod_ok"
    assert document["final_context"] == {"count": 1, "done": True}


def test_run_file_target_can_import_its_siblings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "cli_sibling_helpers.py").write_text("GREETING = 'hello from a sibling'\n")
    (project / "sibling_flow.py").write_text(
        textwrap.dedent(
            """
            import taskloom as cloaca
            from cli_sibling_helpers import GREETING

            with cloaca.WorkflowBuilder("cli_sibling") as builder:
                @cloaca.task(id="greet")
                def greet(ctx):
                    ctx.set("greeting", GREETING)
                    return ctx
            """
        )
    )
    code, document = cli_json(capsys, "run", "project/sibling_flow.py:cli_sibling", "--db", db_url)

    assert code == 0
    assert document["final_context"] == {"greeting": "hello from a sibling"}


def test_load_target_returns_module_and_name(tmp_path: Path) -> None:
    write_flow(tmp_path, "cli_loadable.py")
    module, name = load_target(f"{tmp_path / 'cli_loadable.py'}:cli_ok")

    assert name == "cli_ok"
    assert module.__name__ == "cli_loadable"
    assert Path(module.__file__ or "") == tmp_path / "cli_loadable.py"
    assert str(tmp_path) in sys.path


def test_load_target_does_not_shadow_an_existing_module(tmp_path: Path) -> None:
    """A flows file named like a stdlib module must not replace it in sys.modules."""
    (tmp_path / "json.py").write_text("SHADOW = True\n")
    module, _ = load_target("json.py:wf")

    assert module.SHADOW is True
    assert sys.modules["json"] is json
    assert module.__name__ != "json"


# --------------------------------------------------------------------------- runs


def _make_two_runs(capsys: pytest.CaptureFixture[str], flow: Path, db_url: str) -> tuple[str, str]:
    """One completed and one failed run, in that order; returns their ids."""
    code, ok = cli_json(capsys, "run", f"{flow}:cli_ok", "--db", db_url)
    assert code == 0
    code, broken = cli_json(capsys, "run", f"{flow}:cli_broken", "--db", db_url)
    assert code == 1
    return ok["run_id"], broken["run_id"]


def test_runs_lists_recent_runs_newest_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    ok_id, broken_id = _make_two_runs(capsys, write_flow(tmp_path), db_url)
    code, out, err = cli(capsys, "runs", "--db", db_url)

    assert code == 0, err
    header, first, second = out.strip().splitlines()
    assert header.split() == ["RUN", "ID", "WORKFLOW", "STATUS", "CREATED", "DURATION", "ERROR"]
    assert first.startswith(broken_id)
    assert first.split()[1:3] == ["cli_broken", "Failed"]
    assert "ValueError: doomed always fails" in first
    assert second.startswith(ok_id)
    assert second.split()[1:3] == ["cli_ok", "Completed"]
    # Columns line up: every row's status starts where the header's does.
    column = header.index("STATUS")
    assert first[column:].startswith("Failed")
    assert second[column:].startswith("Completed")


def test_runs_status_filter_and_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    ok_id, broken_id = _make_two_runs(capsys, write_flow(tmp_path), db_url)

    code, out, _ = cli(capsys, "runs", "--db", db_url, "--status", "failed")
    assert code == 0
    assert broken_id in out and ok_id not in out

    code, runs = cli_json(capsys, "runs", "--db", db_url, "--status", "Completed")
    assert [run["run_id"] for run in runs] == [ok_id]

    code, runs = cli_json(capsys, "runs", "--db", db_url, "--limit", "1")
    assert [run["run_id"] for run in runs] == [broken_id]

    code, out, _ = cli(capsys, "runs", "--db", db_url, "--status", "Cancelled")
    assert code == 0
    assert "No runs with status Cancelled" in out


def test_runs_json_is_parseable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    ok_id, broken_id = _make_two_runs(capsys, write_flow(tmp_path), db_url)
    code, runs = cli_json(capsys, "runs", "--db", db_url)

    assert code == 0
    assert [run["run_id"] for run in runs] == [broken_id, ok_id]
    broken, ok = runs
    assert broken["status"] == "Failed"
    assert "doomed always fails" in broken["error_message"]
    assert ok["workflow"] == "cli_ok"
    assert ok["error_message"] is None
    assert ok["duration"] >= 0
    assert datetime.fromisoformat(ok["created_at"]) <= datetime.fromisoformat(ok["ended_at"])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--limit", "0"], "argument --limit"),
        (["--limit", "ten"], "argument --limit"),
        (["--status", "Exploded"], "argument --status"),
    ],
)
def test_runs_rejects_bad_options(
    capsys: pytest.CaptureFixture[str], db_url: str, argv: list[str], expected: str
) -> None:
    code, _, err = cli(capsys, "runs", "--db", db_url, *argv)
    assert code == 2
    assert expected in err


def test_runs_refuses_to_create_a_missing_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "typo.db"
    code, out, err = cli(capsys, "runs", "--db", f"sqlite:///{missing}")

    assert code == 2
    assert out == ""
    assert "--db" in err and str(missing) in err
    assert not missing.exists()


# --------------------------------------------------------------------------- show


def test_show_run_with_tasks_and_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    flow = write_flow(tmp_path)
    code, document = cli_json(
        capsys, "run", f"{flow}:cli_ok", "--db", db_url, "--context", '{"explode": true}'
    )
    assert code == 1
    run_id = document["run_id"]

    code, out, err = cli(capsys, "show", run_id, "--db", db_url)

    assert code == 0, err
    assert out.startswith(f"Run {run_id}\n")
    assert "workflow: cli_ok (version " in out
    assert "status:   Failed" in out
    # A multi-line run error keeps its continuation lines under the value column.
    assert "error:    task 'finish' failed: RuntimeError: finish exploded\n" in out
    assert "\n            second line of the error\n" in out
    prepare = next(line for line in out.splitlines() if line.startswith("prepare "))
    finish = next(line for line in out.splitlines() if line.startswith("finish "))
    assert prepare.split()[1:3] == ["Completed", "1"]
    assert finish.split()[1:3] == ["Failed", "1"]
    traceback_part = out.split("Traceback of task finish (attempt 1):\n", 1)[1]
    traceback_lines = traceback_part.rstrip("\n").splitlines()
    assert traceback_lines[0] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in traceback_lines)
    assert any('raise RuntimeError("finish exploded' in line for line in traceback_lines)
    assert "Events:" not in out


def test_show_events(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    flow = write_flow(tmp_path)
    code, document = cli_json(capsys, "run", f"{flow}:cli_broken", "--db", db_url)
    run_id = document["run_id"]

    code, out, _ = cli(capsys, "show", run_id, "--db", db_url, "--events")

    assert code == 0
    events = out.split("Events:\n", 1)[1].splitlines()
    assert events[0].split() == ["AT", "EVENT", "TASK", "DATA"]
    kinds = [line.split()[1] for line in events[1:]]
    assert kinds[0] == "task_started"
    assert "task_failed" in kinds
    assert kinds[-1] == "run_finished"
    assert all(line.startswith("  +") for line in events[1:])


def test_show_json(capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str) -> None:
    flow = write_flow(tmp_path)
    code, ran = cli_json(capsys, "run", f"{flow}:cli_ok", "--db", db_url, "--context", "{}")
    run_id = ran["run_id"]

    code, shown = cli_json(capsys, "show", run_id, "--db", db_url, "--events")

    assert code == 0
    for key in ("run_id", "workflow", "status", "error_message", "tasks", "final_context"):
        assert shown[key] == ran[key]
    assert shown["input_context"] == {}
    assert re.fullmatch(r"[0-9a-f]{16}", shown["workflow_version"])
    assert [e["kind"] for e in shown["events"]][-1] == "run_finished"
    assert shown["events"][-1]["data"] == {"status": "Completed"}


def test_show_unknown_run_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    _make_two_runs(capsys, write_flow(tmp_path), db_url)
    code, out, err = cli(capsys, "show", "0123456789abcdef", "--db", db_url)

    assert code == 2
    assert out == ""
    assert "'0123456789abcdef'" in err
    assert "taskloom runs" in err


# --------------------------------------------------------------------------- top level


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"taskloom {__version__}"


@pytest.mark.parametrize("argv", [[], ["bogus-command"], ["run"], ["show"]])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = cli(capsys, *argv)
    assert code == 2
    assert "usage: taskloom" in err


def test_python_dash_m_entry_point(tmp_path: Path, db_url: str) -> None:
    flow = write_flow(tmp_path)
    ok = subprocess.run(
        [sys.executable, "-m", "taskloom", "run", f"{flow.name}:cli_ok", "--db", db_url, "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "Completed"

    broken = subprocess.run(
        [sys.executable, "-m", "taskloom", "run", f"{flow.name}:cli_broken", "--db", db_url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert broken.returncode == 1, broken.stderr
    assert "status:   Failed" in broken.stdout


@pytest.mark.parametrize(
    ("flag", "vacuum", "task_timeout", "deaths"),
    [
        ((), True, None, None),
        (("--no-vacuum",), False, None, None),
        (("--task-timeout", "2.5"), True, 2.5, None),
        (("--max-process-deaths", "5"), True, None, 5),
        (("--adopt-orphans",), True, None, None),
    ],
)
def test_worker_options_reach_the_worker(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    flag: tuple[str, ...],
    vacuum: bool,
    task_timeout: float | None,
    deaths: int | None,
) -> None:
    from taskloom.distributed import worker as worker_module

    seen: dict[str, Any] = {}

    class Recorded:
        """Stands in for the worker process loop: records how the CLI built it."""

        def __init__(self, url: str, **options: Any) -> None:
            seen.update(options, url=url)

        def request_stop(self) -> None:
            pass

        def run(self) -> None:
            pass

    monkeypatch.setattr(worker_module, "Worker", Recorded)
    app = write_flow(tmp_path, "app_for_worker.py", ok="cli_worker_ok", broken="cli_worker_no")
    code, _, err = cli(
        capsys,
        "worker",
        "--db",
        "postgresql://nobody@127.0.0.1:1/none",
        "--import",
        str(app),
        "--concurrency",
        "3",
        "--lease",
        "4",
        # The stand-in has no journal to fire schedules from (docs/schedules.md).
        "--no-schedules",
        *flag,
    )
    assert code == 0, err
    assert seen == {
        "url": "postgresql://nobody@127.0.0.1:1/none",
        "concurrency": 3,
        "lease": 4.0,
        "poll_interval": 1.0,
        "task_timeout": task_timeout,
        "vacuum": vacuum,
        "retention": None,
        "adopt_orphans": "--adopt-orphans" in flag,
        "max_process_deaths": deaths,
    }
