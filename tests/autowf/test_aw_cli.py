"""auto_workflow's CLI (run, describe, list) as ``taskloom flow ...``, same arguments."""

import json
import subprocess
import sys
import textwrap

from taskloom.cli import main

MODULE = textwrap.dedent(
    """\
    from taskloom import task, flow, get_context

    @task
    def one(): return 1

    @task
    def two(x): return x + 1

    @task
    def scaled(x): return x * get_context().params.get("factor", 1)

    @task
    def explode(): raise ValueError("bad 5")

    @flow
    def cli_flow():
        a = one(); b = two(a); return b

    @flow
    def with_params(factor):
        return scaled(two(one()))

    @flow
    def doomed():
        return explode()
    """
)


def aw_cli(*args, cwd):
    cmd = [sys.executable, "-m", "taskloom.compat.auto_workflow.cli", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_cli_describe(tmp_path):
    (tmp_path / "mymod.py").write_text(MODULE)
    proc = aw_cli("describe", "mymod:cli_flow", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["count"] == 2
    assert any(n["task"] == "one" for n in data["nodes"])


def test_cli_list(tmp_path):
    (tmp_path / "mymod.py").write_text(MODULE)
    proc = aw_cli("list", "mymod", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"cli_flow": 2, "with_params": None, "doomed": 1}


def test_cli_list_empty_module(tmp_path):
    (tmp_path / "empty.py").write_text("x=1\n")
    proc = aw_cli("list", "empty", cwd=tmp_path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {}


def test_cli_run_prints_the_value_and_exits_0(tmp_path, capsys, monkeypatch):
    (tmp_path / "clirun.py").write_text(MODULE)
    assert main(["flow", "run", "clirun:cli_flow", "--failure-policy", "continue"]) == 0
    assert capsys.readouterr().out.strip() == "2"
    assert main(["flow", "run", "clirun:with_params", "--params", '{"factor": 10}']) == 0
    assert capsys.readouterr().out.strip() == "20"


def test_cli_run_failure_exits_1_naming_the_task(tmp_path, capsys):
    (tmp_path / "clifail.py").write_text(MODULE)
    assert main(["flow", "run", "clifail:doomed"]) == 1
    err = capsys.readouterr().err
    assert "TaskExecutionError: Task 'explode'" in err and "bad 5" in err


def test_cli_load_errors_exit_1(tmp_path, capsys):
    (tmp_path / "m.py").write_text("x=1\n")
    assert main(["flow", "describe", "no_such_mod:obj"]) == 1
    assert "Failed to import module" in capsys.readouterr().err
    assert main(["flow", "describe", "m:nope"]) == 1
    assert "not found in module" in capsys.readouterr().err
    assert main(["flow", "list", "no_such_mod"]) == 1
    assert "Failed to import module" in capsys.readouterr().err
    assert main(["flow", "run", "m"]) == 1
    assert "module:object" in capsys.readouterr().err
    assert main(["flow", "run", "m:x"]) == 1
    assert "not a @flow" in capsys.readouterr().err


def test_cli_bad_options_exit_2(tmp_path, capsys):
    (tmp_path / "m2.py").write_text(MODULE)
    assert main(["flow", "run", "m2:cli_flow", "--max-concurrency", "0"]) == 2
    assert "max-concurrency" in capsys.readouterr().err
    assert main(["flow", "run", "m2:cli_flow", "--failure-policy", "sometimes"]) == 2
    assert "failure-policy" in capsys.readouterr().err
