"""Tests of WorkflowBuilder and Workflow: registration, validation, versions and graph views."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import taskloom
from taskloom import (
    Context,
    DefaultRunner,
    Workflow,
    WorkflowBuilder,
    WorkflowValidationError,
    register_workflow_constructor,
    task,
)
from taskloom.core.registry import lookup_workflow


@pytest.fixture
def runner(db_url: str) -> Iterator[DefaultRunner]:
    r = DefaultRunner(db_url)
    yield r
    r.shutdown()


def _noop(ctx: Context) -> Context:
    return ctx


# =========================================================================== registration


def test_builder_registers_the_workflow_when_the_block_ends() -> None:
    with WorkflowBuilder("registered") as builder:

        @task(id="only")
        def only(ctx: Context) -> Context:
            return ctx

        assert lookup_workflow("registered") is None
        assert isinstance(builder, WorkflowBuilder)

    workflow = lookup_workflow("registered")
    assert isinstance(workflow, Workflow)
    assert workflow.name == "registered"
    assert list(workflow.tasks) == ["only"]
    assert workflow.get_task("only") is only
    assert len(workflow) == 1


def test_an_exception_in_the_block_registers_nothing() -> None:
    with pytest.raises(RuntimeError, match="author error"), WorkflowBuilder("broken_block"):

        @task(id="half")
        def half(ctx: Context) -> Context:
            return ctx

        raise RuntimeError("author error")

    assert lookup_workflow("broken_block") is None


def test_tasks_outside_a_builder_join_no_workflow() -> None:
    @task(id="loose")
    def loose(ctx: Context) -> Context:
        return ctx

    with WorkflowBuilder("with_other"):

        @task(id="inside")
        def inside(ctx: Context) -> Context:
            return ctx

    workflow = lookup_workflow("with_other")
    assert workflow is not None
    assert list(workflow.tasks) == ["inside"]


def test_description_and_tags() -> None:
    with WorkflowBuilder("described") as builder:
        assert builder.description("Nightly ETL") is builder
        assert builder.tag("team", "data") is builder
        builder.tag("tier", "gold")

        @task(id="step")
        def step(ctx: Context) -> Context:
            return ctx

    workflow = lookup_workflow("described")
    assert workflow is not None
    assert workflow.description == "Nightly ETL"
    assert workflow.tags == {"team": "data", "tier": "gold"}


def test_add_task_by_id_and_by_object(runner: DefaultRunner) -> None:
    @task(id="extract")
    def extract(ctx: Context) -> Context:
        ctx.set("rows", [1, 2])
        return ctx

    @task(id="load", dependencies=["extract"])
    def load(ctx: Context) -> Context:
        ctx.set("loaded", len(ctx.get("rows")))
        return ctx

    with WorkflowBuilder("assembled") as builder:
        assert builder.add_task("extract") is builder
        builder.add_task(load)
        builder.add_task(load)  # the same task twice is harmless

    workflow = lookup_workflow("assembled")
    assert workflow is not None
    assert workflow.get_task("extract") is extract
    assert workflow.get_task("load") is load
    result = runner.execute("assembled", Context())
    assert result.status == "Completed"
    assert result.final_context.get("loaded") == 2


def test_add_task_rejects_unknown_ids_and_non_tasks() -> None:
    builder = WorkflowBuilder("adder")
    with pytest.raises(ValueError, match="never_declared"):
        builder.add_task("never_declared")
    with pytest.raises(TypeError):
        builder.add_task(42)  # type: ignore[arg-type]


def test_build_returns_a_workflow_without_registering_it() -> None:
    builder = WorkflowBuilder("built_only")
    builder.add_task(task(id="lonely")(_noop))
    workflow = builder.build()
    assert isinstance(workflow, Workflow)
    assert workflow.name == "built_only"
    assert lookup_workflow("built_only") is None


@pytest.mark.parametrize("name", ["", "   ", None, 7])
def test_builder_name_must_be_a_non_empty_string(name: object) -> None:
    with pytest.raises(ValueError):
        WorkflowBuilder(name)  # type: ignore[arg-type]


# =========================================================================== validation


def test_missing_dependency_names_both_tasks() -> None:
    with pytest.raises(ValueError) as info, WorkflowBuilder("missing_dep"):

        @task(id="consumer", dependencies=["producer_typo"])
        def consumer(ctx: Context) -> Context:
            return ctx

    message = str(info.value)
    assert "consumer" in message
    assert "producer_typo" in message
    assert isinstance(info.value, WorkflowValidationError)
    assert lookup_workflow("missing_dep") is None


def test_cycle_names_the_tasks_in_it() -> None:
    with pytest.raises(ValueError) as info, WorkflowBuilder("cyclic"):

        @task(id="entry")
        def entry(ctx: Context) -> Context:
            return ctx

        @task(id="alpha", dependencies=["entry", "gamma"])
        def alpha(ctx: Context) -> Context:
            return ctx

        @task(id="beta", dependencies=["alpha"])
        def beta(ctx: Context) -> Context:
            return ctx

        @task(id="gamma", dependencies=["beta"])
        def gamma(ctx: Context) -> Context:
            return ctx

    message = str(info.value)
    assert "cycle" in message.lower()
    for name in ("alpha", "beta", "gamma"):
        assert name in message
    assert "entry" not in message.split("cycle", 1)[1]
    assert lookup_workflow("cyclic") is None


def test_empty_workflow_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty_one"), WorkflowBuilder("empty_one"):
        pass
    assert lookup_workflow("empty_one") is None


def test_duplicate_task_id_in_one_builder() -> None:
    with pytest.raises(ValueError, match="twin"), WorkflowBuilder("duplicates"):

        @task(id="twin")
        def first(ctx: Context) -> Context:
            return ctx

        @task(id="twin")
        def second(ctx: Context) -> Context:
            return ctx

    assert lookup_workflow("duplicates") is None


def test_trigger_rule_on_a_task_that_is_not_upstream() -> None:
    with pytest.raises(ValueError) as info, WorkflowBuilder("bad_rule"):

        @task(id="side")
        def side(ctx: Context) -> Context:
            return ctx

        @task(id="main")
        def main(ctx: Context) -> Context:
            return ctx

        @task(id="watcher", dependencies=["main"], trigger_rules=taskloom.task_failed("side"))
        def watcher(ctx: Context) -> Context:
            return ctx

    message = str(info.value)
    assert "watcher" in message
    assert "side" in message
    assert lookup_workflow("bad_rule") is None


def test_trigger_rule_may_refer_to_an_indirect_ancestor() -> None:
    with WorkflowBuilder("indirect_rule"):

        @task(id="a")
        def a(ctx: Context) -> Context:
            return ctx

        @task(id="b", dependencies=["a"])
        def b(ctx: Context) -> Context:
            return ctx

        @task(id="c", dependencies=["b"], trigger_rules=taskloom.task_success("a"))
        def c(ctx: Context) -> Context:
            return ctx

    assert lookup_workflow("indirect_rule") is not None


# =========================================================================== version

_BASE_MODULE = """
import taskloom as cloaca

with cloaca.WorkflowBuilder("versioned"):

    @cloaca.task(id="extract", retry_attempts=2)
    def extract(context):
        rows = sorted([3, 1, 2], key=lambda r: -r)
        context.set("rows", [r for r in rows if r in {1, 2, 3, "x", "y"}])
        return context

    @cloaca.task(id="load", dependencies=["extract"])
    def load(context):
        context.set("loaded", len(context.get("rows", [])))
        return context
"""

_PRINT_VERSION = """
import sys
sys.path.insert(0, sys.argv[1])
import versioned_workflow
from taskloom.core.registry import lookup_workflow
print(lookup_workflow("versioned").version)
"""


def _version_in_subprocess(tmp_path: Path, source: str, label: str, hash_seed: str = "0") -> str:
    """Write ``source`` as module ``versioned_workflow`` and print its version in a new process."""
    directory = tmp_path / label
    directory.mkdir()
    (directory / "versioned_workflow.py").write_text(textwrap.dedent(source))
    src = str(Path(taskloom.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", _PRINT_VERSION, str(directory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_version_is_stable_across_processes(tmp_path: Path) -> None:
    first = _version_in_subprocess(tmp_path, _BASE_MODULE, "one", hash_seed="1")
    second = _version_in_subprocess(tmp_path, _BASE_MODULE, "two", hash_seed="2")
    assert first
    assert first == second


def test_version_changes_with_the_graph_and_the_tasks(tmp_path: Path) -> None:
    base = _version_in_subprocess(tmp_path, _BASE_MODULE, "base")
    variants = {
        "edge_removed": _BASE_MODULE.replace('dependencies=["extract"]', "dependencies=[]"),
        "task_added": _BASE_MODULE
        + textwrap.indent(
            textwrap.dedent(
                """
                @cloaca.task(id="report", dependencies=["load"])
                def report(context):
                    return context
                """
            ),
            "    ",
        ),
        "option_changed": _BASE_MODULE.replace("retry_attempts=2", "retry_attempts=3"),
        "code_changed": _BASE_MODULE.replace(
            'len(context.get("rows", []))', 'sum(context.get("rows", []))'
        ),
    }
    versions = {}
    for label, source in variants.items():
        assert source != _BASE_MODULE, label
        versions[label] = _version_in_subprocess(tmp_path, source, label)
    for label, version in versions.items():
        assert version != base, f"{label} kept the version {base}"


def test_version_changes_when_a_constant_in_a_task_body_changes(tmp_path: Path) -> None:
    base = _version_in_subprocess(tmp_path, _BASE_MODULE, "base")
    changed = _version_in_subprocess(
        tmp_path, _BASE_MODULE.replace("[3, 1, 2]", "[4, 5, 6]"), "constants"
    )
    assert changed != base


def test_version_is_stable_when_rebuilt_in_process() -> None:
    def build() -> Workflow:
        @task(id="one")
        def one(ctx: Context) -> Context:
            return ctx

        @task(id="two", dependencies=["one"], trigger_rules=taskloom.task_success("one"))
        def two(ctx: Context) -> Context:
            return ctx

        builder = WorkflowBuilder("rebuilt")
        builder.add_task(one).add_task(two)
        return builder.build()

    assert build().version == build().version


# =========================================================================== graph views


def _graph_workflow() -> Workflow:
    with WorkflowBuilder("graph"):

        @task(id="a")
        def a(ctx: Context) -> Context:
            return ctx

        @task(id="b", dependencies=["a"])
        def b(ctx: Context) -> Context:
            return ctx

        @task(id="c", dependencies=["a"])
        def c(ctx: Context) -> Context:
            return ctx

        @task(id="d", dependencies=["b", "c"])
        def d(ctx: Context) -> Context:
            return ctx

        @task(id="e")
        def e(ctx: Context) -> Context:
            return ctx

        @task(id="f", dependencies=["d", "e"])
        def f(ctx: Context) -> Context:
            return ctx

        @task(id="g", dependencies=["a"])
        def g(ctx: Context) -> Context:
            return ctx

    workflow = lookup_workflow("graph")
    assert workflow is not None
    return workflow


def test_topological_sort() -> None:
    workflow = _graph_workflow()
    order = workflow.topological_sort()
    assert sorted(order) == ["a", "b", "c", "d", "e", "f", "g"]
    position = {task_id: i for i, task_id in enumerate(order)}
    for task_id, deps in workflow.dependencies.items():
        for dep in deps:
            assert position[dep] < position[task_id], (dep, task_id, order)


def test_execution_levels() -> None:
    levels = _graph_workflow().get_execution_levels()
    assert [sorted(level) for level in levels] == [["a", "e"], ["b", "c", "g"], ["d"], ["f"]]


def test_roots_and_leaves() -> None:
    workflow = _graph_workflow()
    assert sorted(workflow.get_roots()) == ["a", "e"]
    assert sorted(workflow.get_leaves()) == ["f", "g"]


def test_get_task_unknown_id() -> None:
    with pytest.raises(KeyError, match="nope"):
        _graph_workflow().get_task("nope")


# =========================================================================== registry


def test_workflow_defined_in_one_thread_runs_from_another(runner: DefaultRunner) -> None:
    errors: list[BaseException] = []

    def define() -> None:
        try:
            with WorkflowBuilder("threaded"):

                @task(id="hello")
                def hello(ctx: Context) -> Context:
                    ctx.set("greeting", f"hello {ctx.get('who')}")
                    return ctx

        except BaseException as exc:
            errors.append(exc)

    definer = threading.Thread(target=define)
    definer.start()
    definer.join(10)
    assert errors == []

    results: list[object] = []

    def execute() -> None:
        try:
            results.append(runner.execute("threaded", Context({"who": "thread"})))
        except BaseException as exc:
            results.append(exc)

    caller = threading.Thread(target=execute)
    caller.start()
    caller.join(10)

    assert len(results) == 1
    result = results[0]
    assert isinstance(result, taskloom.WorkflowResult), result
    assert result.final_context.get("greeting") == "hello thread"
    # ...and from the main thread as well.
    assert (
        runner.execute("threaded", Context({"who": "main"})).final_context.get("greeting")
        == "hello main"
    )


def test_an_open_builder_does_not_capture_tasks_of_other_threads() -> None:
    inside_block = threading.Event()
    other_done = threading.Event()

    def declare_elsewhere() -> None:
        inside_block.wait(5)

        @task(id="from_other_thread")
        def from_other_thread(ctx: Context) -> Context:
            return ctx

        other_done.set()

    other = threading.Thread(target=declare_elsewhere)
    other.start()
    with WorkflowBuilder("mine"):

        @task(id="my_own")
        def my_own(ctx: Context) -> Context:
            return ctx

        inside_block.set()
        assert other_done.wait(5)
    other.join(5)

    workflow = lookup_workflow("mine")
    assert workflow is not None
    assert list(workflow.tasks) == ["my_own"]


def test_register_workflow_constructor_builds_lazily(runner: DefaultRunner) -> None:
    calls: list[int] = []

    @task(id="lazy_step")
    def lazy_step(ctx: Context) -> Context:
        ctx.set("lazy", True)
        return ctx

    def construct() -> Workflow:
        calls.append(1)
        builder = WorkflowBuilder("lazy")
        builder.add_task(lazy_step)
        return builder.build()

    register_workflow_constructor("lazy", construct)
    assert calls == []

    first = runner.execute("lazy", Context())
    second = runner.execute("lazy", Context())

    assert calls == [1]
    assert first.final_context.get("lazy") is True
    assert second.status == "Completed"


def test_register_workflow_constructor_validates_its_arguments() -> None:
    with pytest.raises(ValueError):
        register_workflow_constructor("", lambda: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError):
        register_workflow_constructor("not_callable", 5)  # type: ignore[arg-type]


def test_constructor_returning_a_non_workflow_is_reported(runner: DefaultRunner) -> None:
    register_workflow_constructor("wrong_type", lambda: "not a workflow")  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="wrong_type"):
        runner.execute("wrong_type", Context())
