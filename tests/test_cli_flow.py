"""``taskloom run module:flow --params JSON`` runs a @flow and prints its value."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloom.cli import main

SOURCE = textwrap.dedent(
    """
    from taskloom import flow, task

    @task
    def add(a, b):
        return a + b

    @task
    def explode(x):
        raise ValueError(f"bad {x}")

    @flow
    def total(n, step=1):
        return {"sum": add(add(n, step), step), "pair": (n, step)}

    @flow(name="doomed_flow")
    def doomed(n):
        return explode(n)
    """
)


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "cli_flows.py"
    path.write_text(SOURCE)
    yield path
    sys.modules.pop("cli_flows", None)


def test_params_become_keyword_arguments_and_the_value_is_printed(
    flows: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", f"{flows}:total", "--params", '{"n": 3, "step": 2}', "--db", db_url])
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out) == {"sum": 7, "pair": [3, 2]}  # tuples print as JSON lists


def test_json_document_and_default_params(
    flows: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", f"{flows}:total", "--params", '{"n": 1}', "--db", db_url, "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["status"] == "Completed" and document["result"]["sum"] == 3


def test_a_failing_flow_exits_1_naming_the_error(
    flows: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", f"{flows}:doomed_flow", "--params", '{"n": 5}', "--db", db_url])
    err = capsys.readouterr().err
    assert code == 1
    assert "flow 'doomed_flow' failed: TaskExecutionError: Task 'explode'" in err
    assert "ValueError('bad 5')" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--params", '{"m": 1}'], r"--params do not fit flow 'total'\(n, step=1\)"),
        (["--params", "[1]"], "--params must be a JSON object"),
        (["--context", "{}"], "is a @flow, which takes --params"),
    ],
)
def test_bad_inputs_exit_2_naming_the_option(
    flows: Path, db_url: str, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code = main(["run", f"{flows}:total", "--db", db_url, *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(message, err), err


def test_params_on_a_dag_workflow_are_refused(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "cli_dag.py"
    path.write_text(
        textwrap.dedent(
            """
            import taskloom as cloaca
            with cloaca.WorkflowBuilder("dag_only"):
                @cloaca.task(id="only")
                def only(ctx):
                    return ctx
            """
        )
    )
    code = main(["run", f"{path}:dag_only", "--params", "{}", "--db", db_url])
    assert code == 2
    assert "--params is for @flow targets" in capsys.readouterr().err


def test_the_console_entry_point_runs_a_flow(flows: Path, db_url: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskloom",
            "run",
            f"{flows}:total",
            "--params",
            '{"n": 10}',
            "--db",
            db_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sum"] == 12
