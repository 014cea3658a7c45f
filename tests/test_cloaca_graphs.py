"""Cloaca's computation graphs (issue 11): ``ComputationGraphBuilder``, ``@node``,
``@task(invokes=, post_invocation=)``, ``@reactor`` with durable accumulators --
through ``import taskloom as cloaca``, on SQLite and on PostgreSQL, crashes included."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import taskloom as cloaca
from crashkit import kill_when_reached
from taskloom.cli import main as cli_main
from taskloom.dag import computation_graph, reactor
from taskloom.dag.reactor_runs import fires, pending
from taskloom.dag.runner import FiredRun
from taskloom.journal.sql_journal import SqlJournal
from taskloom.journal.urls import open_journal

CRASHAPPS = Path(__file__).parent / "crashapps"


@pytest.fixture(autouse=True)
def _clean_graphs() -> Iterator[None]:
    """Each test sees only the graphs and accumulators it defines."""
    saved = (dict(computation_graph._graphs), dict(reactor._transforms))
    yield
    computation_graph._graphs.clear()
    computation_graph._graphs.update(saved[0])
    reactor._transforms.clear()
    reactor._transforms.update(saved[1])


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("db_url"))
    return str(request.getfixturevalue("pg_schema_url"))


# --------------------------------------------------------------------------- invokes


def test_single_terminal_routes_into_the_task_context(url: str) -> None:
    with cloaca.WorkflowBuilder("single_terminal_wf"):
        score_graph = cloaca.ComputationGraphBuilder("score_graph", graph={"score": {}})
        with score_graph:

            @cloaca.node
            def score(ctx: Any) -> dict[str, Any]:
                return {"score": ctx.get("base") + 1}

        @cloaca.task(id="run_score", invokes=score_graph)
        def run_score(ctx: Any) -> Any:
            ctx.set("base", 98)
            return ctx

    with cloaca.DefaultRunner(url) as runner:
        result = runner.execute("single_terminal_wf", cloaca.Context())
    assert result.status == "Completed"
    assert result.final_context.get("score") == {"score": 99}


def test_routing_runs_only_the_chosen_branch(url: str) -> None:
    ran: list[str] = []
    with cloaca.WorkflowBuilder("routing_wf"):
        multi = cloaca.ComputationGraphBuilder(
            "routing_graph",
            graph={
                "decision": {"routes": {"Hit": "hit", "Miss": "miss"}},
                "hit": {"next": "report"},
                "report": {},
                "miss": {},
            },
        )
        with multi:

            @cloaca.node
            def decision(ctx: Any) -> tuple[str, Any]:
                return ("Hit", {"value": 7}) if ctx.get("take_hit") else ("Miss", {"value": 0})

            @cloaca.node
            def hit(payload: Any) -> Any:
                ran.append("hit")
                return {"hit_value": payload["value"]}

            @cloaca.node
            def report(payload: Any) -> Any:
                return {"reported": payload["hit_value"] * 10}

            @cloaca.node
            def miss(payload: Any) -> Any:
                ran.append("miss")
                return {"missed": True}

        @cloaca.task(id="router", invokes=multi)
        def router(ctx: Any) -> Any:
            return ctx

    with cloaca.DefaultRunner(url) as runner:
        hit_ctx = runner.execute("routing_wf", cloaca.Context({"take_hit": True})).final_context
        miss_ctx = runner.execute("routing_wf", cloaca.Context({"take_hit": False})).final_context
    assert hit_ctx.get("report") == {"reported": 70}
    assert "miss" not in hit_ctx and "hit" not in hit_ctx  # only terminals land
    assert miss_ctx.get("miss") == {"missed": True}
    assert "report" not in miss_ctx
    assert ran == ["hit", "miss"]


def test_post_invocation_sees_the_terminals_and_runs_before_on_success(url: str) -> None:
    seen: list[Any] = []
    with cloaca.WorkflowBuilder("post_wf"):
        graph = cloaca.ComputationGraphBuilder("post_graph", graph={"emit": {}})
        with graph:

            @cloaca.node
            def emit(ctx: Any) -> dict[str, Any]:
                return {"emitted": True}

        def post(ctx: Any) -> Any:
            assert ctx.get("emit") == {"emitted": True}
            ctx.set("post_ran", True)
            return ctx

        def on_success(task_id: str, ctx: Any) -> None:
            seen.append((task_id, ctx.get("post_ran")))

        @cloaca.task(id="post_task", invokes=graph, post_invocation=post, on_success=on_success)
        def post_task(ctx: Any) -> Any:
            return ctx

    with cloaca.DefaultRunner(url) as runner:
        result = runner.execute("post_wf", cloaca.Context())
    assert result.final_context.get("emit") == {"emitted": True}
    assert result.final_context.get("post_ran") is True
    assert seen == [("post_task", True)]


def test_a_failing_node_fails_the_task_naming_graph_and_node_and_retries_apply(
    url: str,
) -> None:
    calls: list[int] = []
    with cloaca.WorkflowBuilder("graph_failure_wf"):
        flaky = cloaca.ComputationGraphBuilder("flaky_graph", graph={"boom": {}})
        with flaky:

            @cloaca.node
            def boom(ctx: Any) -> Any:
                calls.append(1)
                if len(calls) < 2 or ctx.get("always_fail"):
                    raise ConnectionError("intentional graph failure")
                return {"ok": True}

        @cloaca.task(id="raiser", invokes=flaky, retry_attempts=2, retry_delay_ms=1)
        def raiser(ctx: Any) -> Any:
            return ctx

    with cloaca.DefaultRunner(url) as runner:
        retried = runner.execute("graph_failure_wf", cloaca.Context())
        failed = runner.execute("graph_failure_wf", cloaca.Context({"always_fail": True}))
    assert retried.status == "Completed"
    assert retried.task_results["raiser"].attempts == 2
    assert retried.final_context.get("boom") == {"ok": True}
    assert failed.status == "Failed"
    error = failed.task_results["raiser"].error or ""
    assert "flaky_graph" in error and "'boom'" in error and "intentional graph failure" in error


def test_decoration_time_errors_name_the_task_and_the_fix() -> None:
    def post(ctx: Any) -> Any:
        return ctx

    with pytest.raises(ValueError, match="post_invocation") as caught:

        @cloaca.task(id="bad_post", post_invocation=post)
        def bad_post(ctx: Any) -> Any:
            return ctx

    assert "bad_post" in str(caught.value)

    unbuilt = cloaca.ComputationGraphBuilder("unbuilt_graph", graph={"x": {}})
    with pytest.raises(ValueError, match="not registered"):

        @cloaca.task(id="bad_invokes", invokes=unbuilt)
        def bad_invokes(ctx: Any) -> Any:
            return ctx

    @cloaca.reactor(name="rx_for_invokes", accumulators=["alpha"], mode="when_any")
    class RxForInvokes:
        pass

    reactor_graph = cloaca.ComputationGraphBuilder(
        "reactor_graph_for_invokes", reactor=RxForInvokes, graph={"e": {"inputs": ["alpha"]}}
    )
    with reactor_graph:

        @cloaca.node
        def e(alpha: Any) -> Any:
            return {"x": 1}

    with pytest.raises(ValueError, match="reactor-triggered"):

        @cloaca.task(id="bad_reactor_invokes", invokes=reactor_graph)
        def bad_reactor_invokes(ctx: Any) -> Any:
            return ctx


def test_topology_errors_at_the_end_of_the_with_block() -> None:
    with pytest.raises(AttributeError, match=r"no @cloaca\.node function"):  # noqa: SIM117
        with cloaca.ComputationGraphBuilder("missing_fn", graph={"a": {}}):
            pass
    with pytest.raises(ValueError, match="does not appear in the graph topology"):  # noqa: SIM117
        with cloaca.ComputationGraphBuilder("extra_fn", graph={"a": {}}):

            @cloaca.node
            def a(ctx: Any) -> Any:
                return ctx

            @cloaca.node
            def stray(ctx: Any) -> Any:
                return ctx

    with pytest.raises(ValueError, match="trigger-less"):  # noqa: SIM117
        with cloaca.ComputationGraphBuilder("inputs_no_reactor", graph={"a": {"inputs": ["x"]}}):

            @cloaca.node
            def a(x: Any) -> Any:
                return x

    with pytest.raises(ValueError, match="not in the topology"):
        cloaca.ComputationGraphBuilder("bad_target", graph={"a": {"next": "nowhere"}})
    with pytest.raises(ValueError, match="unknown key"):
        cloaca.ComputationGraphBuilder("old_form", graph={"a": {"target": "b"}, "b": {}})
    with pytest.raises(ValueError, match="both 'next' and 'routes'"):
        cloaca.ComputationGraphBuilder(
            "two_edges", graph={"a": {"next": "b", "routes": {"X": "b"}}, "b": {}}
        )
    with pytest.raises(ValueError, match="cycle"):  # noqa: SIM117
        with cloaca.ComputationGraphBuilder(
            "cyclic", graph={"a": {"next": "b"}, "b": {"next": "a"}}
        ):

            @cloaca.node
            def a(x: Any) -> Any:
                return x

            @cloaca.node
            def b(x: Any) -> Any:
                return x

    with pytest.raises(ValueError, match="react="):
        cloaca.ComputationGraphBuilder("bundled", graph={"a": {}}, react={"mode": "when_any"})
    with pytest.raises(ValueError, match="inside a ComputationGraphBuilder"):

        @cloaca.node
        def loose(ctx: Any) -> Any:
            return ctx

    with pytest.raises(TypeError, match=r"@cloaca\.reactor"):
        cloaca.ComputationGraphBuilder("not_a_reactor", graph={"a": {}}, reactor=object())


def test_builder_execute_runs_the_graph_directly() -> None:
    @cloaca.reactor(name="pricing_reactor", accumulators=["orderbook"], mode="when_any")
    class PricingReactor:
        pass

    with cloaca.ComputationGraphBuilder(
        "pricing_pipeline",
        reactor=PricingReactor,
        graph={
            "ingest": {"inputs": ["orderbook"], "next": "compute_spread"},
            "compute_spread": {"next": "format_output"},
            "format_output": {},
        },
    ) as builder:

        @cloaca.node
        def ingest(orderbook: Any) -> Any:
            return {"spread": orderbook["ask"] - orderbook["bid"]}

        @cloaca.node
        def compute_spread(data: Any) -> Any:
            return {"spread_x2": data["spread"] * 2}

        @cloaca.node
        def format_output(data: Any) -> Any:
            return {"message": f"spread x2 = {data['spread_x2']}"}

    assert builder.NAME == "pricing_pipeline"
    assert builder.execute({"orderbook": {"bid": 1, "ask": 4}}) == {"message": "spread x2 = 6"}


# --------------------------------------------------------------------------- reactors


def test_reactor_decorator_sets_cloacas_class_attributes_and_checks_its_arguments() -> None:
    @cloaca.reactor(name="risk_signals", accumulators=["alpha", "beta"], mode="when_all")
    class RiskSignals:
        pass

    assert RiskSignals.NAME == "risk_signals"  # type: ignore[attr-defined]
    assert RiskSignals.ACCUMULATORS == ["alpha", "beta"]  # type: ignore[attr-defined]
    assert RiskSignals.REACTION_MODE == "when_all"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="'name' cannot be empty"):
        cloaca.reactor(name="", accumulators=["a"])
    with pytest.raises(ValueError, match="cannot be empty"):
        cloaca.reactor(name="rx", accumulators=[])
    with pytest.raises(ValueError, match="listed more than once"):
        cloaca.reactor(name="rx", accumulators=["a", "a"])
    with pytest.raises(ValueError, match="unknown mode"):
        cloaca.reactor(name="rx", accumulators=["a"], mode="when_sometimes")
    with pytest.raises(TypeError, match="needs its arguments"):

        @cloaca.reactor  # type: ignore[arg-type]
        class Bare:
            pass

    with pytest.raises(TypeError, match="must be applied to a class"):
        cloaca.reactor(name="rx", accumulators=["a"])(lambda: None)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="not in reactor"):  # noqa: SIM117
        with cloaca.ComputationGraphBuilder(
            "wrong_input", reactor=RiskSignals, graph={"n": {"inputs": ["gamma"]}}
        ):

            @cloaca.node
            def n(gamma: Any) -> Any:
                return gamma


def _define_market_reactor(mode: str) -> type:
    @cloaca.reactor("market", accumulators=["orderbook", "pricing"], mode=mode)
    class Market:
        pass

    @cloaca.passthrough_accumulator
    def pricing(event: Any) -> Any:
        return {"price": event["mid"]}

    with cloaca.ComputationGraphBuilder(
        "market_graph",
        reactor=Market,
        graph={
            "decision": {
                "inputs": ["orderbook", "pricing"],
                "routes": {"Trade": "signal", "NoAction": "audit"},
            },
            "signal": {},
            "audit": {},
        },
    ):

        @cloaca.node
        def decision(orderbook: Any, pricing: Any) -> tuple[str, Any]:
            if orderbook and pricing and orderbook["spread"] < 0.2:
                return ("Trade", {"price": pricing["price"]})
            return ("NoAction", {"reason": "waiting" if orderbook is None else "too wide"})

        @cloaca.node
        def signal(payload: Any) -> Any:
            return {"executed": True, "price": payload["price"]}

        @cloaca.node
        def audit(payload: Any) -> Any:
            return {"logged": payload["reason"]}

    return Market


def test_when_any_fires_on_every_push_with_the_latest_values(url: str) -> None:
    market = _define_market_reactor("when_any")
    with cloaca.DefaultRunner(url) as runner:
        first = runner.push(market, "pricing", {"mid": 101.5})
        assert first is not None
        assert first.result(10).final_context.to_dict() == {"audit": {"logged": "waiting"}}
        second = runner.push("market", "orderbook", {"spread": 0.1})
        assert second is not None
        result = second.result(10)
        assert result.workflow_name == "market_graph"
        assert result.final_context.get("signal") == {"executed": True, "price": 101.5}
        assert len(fires(runner.journal, market)) == 2
        assert pending(runner.journal, market) == {}
        for mid in range(20):
            runner.push(market, "pricing", {"mid": float(mid)})
        journal = runner.journal
        assert isinstance(journal, SqlJournal)
        with journal._transaction() as conn:
            (rows,) = conn.execute("SELECT count(*) FROM reactor_values").fetchone()
        assert rows == 2  # one (the latest) value per accumulator: the table does not grow
        with pytest.raises(ValueError, match="has no accumulator 'volume'"):
            runner.push(market, "volume", 1)
        with pytest.raises(TypeError, match="not JSON"):
            runner.push(market, "orderbook", {"spread": object()})


def test_when_all_waits_for_every_accumulator(url: str) -> None:
    market = _define_market_reactor("when_all")
    with cloaca.DefaultRunner(url) as runner:
        assert runner.push(market, "orderbook", {"spread": 0.5}) is None
        assert runner.push(market, "orderbook", {"spread": 0.1}) is None
        assert pending(runner.journal, market) == {"orderbook": 2}
        handle = runner.push(market, "pricing", {"mid": 99.0})
        assert handle is not None
        result = handle.result(10)
        assert result.final_context.get("signal") == {"executed": True, "price": 99.0}
        # The firing consumed everything: the next value alone does not fire.
        assert runner.push(market, "pricing", {"mid": 98.0}) is None
        fired = fires(runner.journal, market)
        assert len(fired) == 1
        assert fired[0].inputs == {"orderbook": {"spread": 0.1}, "pricing": {"price": 99.0}}
        assert fired[0].run_ids == (result.run_id,)


def test_push_to_a_reactor_without_a_graph_is_refused(url: str) -> None:
    @cloaca.reactor(name="lonely", accumulators=["a"])
    class Lonely:
        pass

    with (
        cloaca.DefaultRunner(url) as runner,
        pytest.raises(ValueError, match="fires no computation graph"),
    ):
        runner.push(Lonely, "a", 1)


# --------------------------------------------------------------------------- crashes


def _load_graph_app() -> ModuleType:
    if str(CRASHAPPS) not in sys.path:
        sys.path.insert(0, str(CRASHAPPS))
    sys.modules.pop("graph_app", None)
    spec = importlib.util.spec_from_file_location("graph_app", CRASHAPPS / "graph_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["graph_app"] = module
    spec.loader.exec_module(module)
    return module


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent.parent / "src"), env.get("PYTHONPATH", "")]
    )
    return env


def test_a_graph_whose_task_completed_does_not_run_again_after_a_crash(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    side = tmp_path / "side.txt"
    kill_when_reached(
        [str(CRASHAPPS / "graph_app.py"), url, str(side), "start"], side, "wait", env=_env()
    )
    assert _lines(side) == ["node", "wait"]
    monkeypatch.setenv("TASKLOOM_GRAPH_SIDE", str(side))
    app = _load_graph_app()
    journal = open_journal(url)
    try:
        (run,) = [r for r in journal.list_runs() if r.workflow_name == app.WORKFLOW]
    finally:
        journal.close()
    with cloaca.DefaultRunner(url) as runner:
        result = runner.result(run.run_id, timeout=30)
    assert result.status == "Completed"
    assert result.final_context.get("node") == {"scored": 42}
    assert result.final_context.get("waited") is True
    assert _lines(side) == ["node", "wait", "wait"]  # the graph ran once


def test_pushed_values_survive_a_crash_and_fire_at_most_once(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    side = tmp_path / "side.txt"
    app_argv = [str(CRASHAPPS / "graph_app.py"), url, str(side), "push"]
    # 1. A value pushed by a process that then dies is not lost.
    kill_when_reached([*app_argv, "alpha", "1"], side, "pushed alpha", env=_env())
    monkeypatch.setenv("TASKLOOM_GRAPH_SIDE", str(side))
    app = _load_graph_app()
    with cloaca.DefaultRunner(url) as runner:
        assert pending(runner.journal, app.CrashRx) == {"alpha": 1}
    # 2. The firing's run dies with its process (the node hangs the first time) ...
    kill_when_reached([*app_argv, "beta", "2"], side, "fired 1 2", env=_env())
    assert _lines(side).count("fired 1 2") == 1
    # ... and the next runner finishes it: the node runs again, the reactor does not fire again.
    with cloaca.DefaultRunner(url) as runner:
        (fire,) = fires(runner.journal, app.CrashRx)
        (run_id,) = fire.run_ids
        result = runner.result(run_id, timeout=30)
        assert result.status == "Completed"
        assert result.final_context.get("combine") == {"pair": [1, 2]}
        assert len(fires(runner.journal, app.CrashRx)) == 1
        assert pending(runner.journal, app.CrashRx) == {}
        runs = [r for r in runner.journal.list_runs() if r.workflow_name == "crash_rx_graph"]
        assert [r.run_id for r in runs] == [run_id]
    assert _lines(side).count("fired 1 2") == 2  # the body is at-least-once, the firing once
    # The run is journaled like any other: `taskloom runs` lists it.
    assert cli_main(["runs", "--db", url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(r["run_id"] == run_id and r["workflow"] == "crash_rx_graph" for r in listed)


def test_a_firing_claimed_by_another_runner_is_followed_by_id(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = _define_market_reactor("when_any")
    with cloaca.DefaultRunner(url) as pusher:
        # Another runner of the database wins the claim: the pusher's adopt finds it taken.
        monkeypatch.setattr(pusher._engine, "adopt", lambda run, plan: None)
        fired = pusher.push(market, "orderbook", {"spread": 0.5})
        assert isinstance(fired, FiredRun)
        with cloaca.DefaultRunner(url):  # adopts the unowned run as it starts
            result = fired.result(20)
        assert result.status == "Completed"
        assert result.final_context.get("audit") == {"logged": "too wide"}
        assert fired.status() == "Completed"


def test_async_task_body_and_async_node_invoke_a_graph(url: str) -> None:
    with cloaca.WorkflowBuilder("async_invokes_wf"):
        graph = cloaca.ComputationGraphBuilder(
            "async_graph", graph={"first": {"next": "second"}, "second": {}}
        )
        with graph:

            @cloaca.node
            async def first(ctx: Any) -> Any:
                return {"n": ctx.get("n") + 1}

            @cloaca.node
            def second(data: Any) -> Any:
                return {"n": data["n"] * 10}

        @cloaca.task(id="async_body", invokes=graph)
        async def async_body(ctx: Any) -> Any:
            ctx.set("n", 4)
            return ctx

    with cloaca.DefaultRunner(url) as runner:
        result = runner.execute("async_invokes_wf", cloaca.Context())
    assert result.status == "Completed"
    assert result.final_context.get("second") == {"n": 50}
    assert result.final_context.get("n") == 4
