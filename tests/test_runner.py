"""Tests of DefaultRunner and the engine beneath it, through Cloaca's public API.

Tasks meant to fail use ``retry_attempts=1`` unless retries are the subject, because
Cloaca's default policy (3 attempts, 1 s then 2 s backoff) would make the suite slow.
Timing assertions are generous lower bounds; parallelism is proven by overlapping
intervals plus a coarse bound. Anything that could deadlock waits with a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import taskloom as cloaca
from taskloom import (
    Context,
    DefaultRunner,
    DefaultRunnerConfig,
    RetryPolicy,
    WorkflowBuilder,
    task,
)
from taskloom.journal import open_journal


@pytest.fixture
def runner(db_url: str) -> Iterator[DefaultRunner]:
    r = DefaultRunner(db_url)
    yield r
    r.shutdown()


def _simple_workflow(name: str = "simple") -> None:
    with WorkflowBuilder(name):

        @task(id="double")
        def double(ctx: Context) -> Context:
            ctx.set("out", ctx.get("n", 0) * 2)
            return ctx


# =========================================================================== retries


@pytest.mark.parametrize("attempts", [0, 1])
def test_retry_attempts_zero_and_one_mean_a_single_attempt(
    runner: DefaultRunner, attempts: int
) -> None:
    calls: list[int] = []
    with WorkflowBuilder("once"):

        @task(id="fails", retry_attempts=attempts, retry_delay_ms=10)
        def fails(ctx: Context) -> Context:
            calls.append(1)
            raise ValueError("nope")

    result = runner.execute("once", Context())

    assert len(calls) == 1
    assert result.status == "Failed"
    assert result.task_results["fails"].status == "Failed"
    assert result.task_results["fails"].attempts == 1


def test_retry_attempts_counts_every_attempt(runner: DefaultRunner) -> None:
    calls: list[int] = []
    with WorkflowBuilder("four"):

        @task(id="always_fails", retry_attempts=4, retry_delay_ms=10, retry_jitter=False)
        def always_fails(ctx: Context) -> Context:
            calls.append(1)
            raise RuntimeError(f"failure {len(calls)}")

    result = runner.execute("four", Context())

    assert len(calls) == 4
    outcome = result.task_results["always_fails"]
    assert outcome.status == "Failed"
    assert outcome.attempts == 4
    assert "failure 4" in (outcome.error or "")


def test_failing_then_succeeding_task_completes(runner: DefaultRunner) -> None:
    seen_inputs: list[Any] = []
    with WorkflowBuilder("flaky"):

        @task(id="flaky", retry_attempts=3, retry_delay_ms=10)
        def flaky(ctx: Context) -> Context:
            # Each attempt must see the task's input, not a failed attempt's changes.
            seen_inputs.append(ctx.get("scribble"))
            ctx.set("scribble", len(seen_inputs))
            if len(seen_inputs) < 3:
                raise ConnectionError("try again")
            return ctx

        @task(id="after", dependencies=["flaky"])
        def after(ctx: Context) -> Context:
            ctx.set("after_saw", ctx.get("scribble"))
            return ctx

    result = runner.execute("flaky", Context({"given": 1}))

    assert result.status == "Completed"
    assert result.task_results["flaky"].attempts == 3
    assert result.task_results["flaky"].status == "Completed"
    assert seen_inputs == [None, None, None]
    assert result.final_context.get("after_saw") == 3
    assert result.final_context.get("given") == 1


def _attempt_gaps(runner: DefaultRunner, name: str, attempts: int, **options: Any) -> list[float]:
    """Run a task failing ``attempts - 1`` times; return the gaps between attempt starts."""
    stamps: list[float] = []
    with WorkflowBuilder(name):

        @task(id="timed", retry_attempts=attempts, retry_jitter=False, **options)
        def timed(ctx: Context) -> Context:
            stamps.append(time.monotonic())
            if len(stamps) < attempts:
                raise ConnectionError("again")
            return ctx

    result = runner.execute(name, Context())
    assert result.status == "Completed"
    assert result.task_results["timed"].attempts == attempts
    return [later - earlier for earlier, later in itertools.pairwise(stamps)]


def test_fixed_backoff_waits_the_delay_every_time(runner: DefaultRunner) -> None:
    gaps = _attempt_gaps(runner, "fixed", 3, retry_backoff="fixed", retry_delay_ms=80)
    assert len(gaps) == 2
    assert all(gap >= 0.07 for gap in gaps), gaps


def test_linear_backoff_grows_by_the_delay(runner: DefaultRunner) -> None:
    gaps = _attempt_gaps(runner, "linear", 3, retry_backoff="linear", retry_delay_ms=60)
    assert gaps[0] >= 0.05, gaps
    assert gaps[1] >= 0.11, gaps


def test_exponential_backoff_doubles(runner: DefaultRunner) -> None:
    gaps = _attempt_gaps(runner, "exponential", 4, retry_backoff="exponential", retry_delay_ms=40)
    assert gaps[0] >= 0.035, gaps
    assert gaps[1] >= 0.075, gaps
    assert gaps[2] >= 0.155, gaps


def test_retry_max_delay_caps_the_backoff(runner: DefaultRunner) -> None:
    started = time.monotonic()
    gaps = _attempt_gaps(
        runner,
        "capped",
        5,
        retry_backoff="exponential",
        retry_delay_ms=80,
        retry_max_delay_ms=80,
    )
    elapsed = time.monotonic() - started
    assert all(gap >= 0.07 for gap in gaps), gaps
    # Uncapped the waits would be 0.08 + 0.16 + 0.32 + 0.64 = 1.2 s; capped 0.32 s.
    assert elapsed < 0.9, gaps


_ERRORS: dict[str, Callable[[], Exception]] = {
    "ValueError": lambda: ValueError("bad input"),
    "ConnectionError": lambda: ConnectionError("connection refused"),
    "RuntimeError(network down)": lambda: RuntimeError("network down"),
    "TimeoutError": lambda: TimeoutError("slow"),
}


@pytest.mark.parametrize(
    ("condition", "error", "expected_attempts"),
    [
        ("never", "ConnectionError", 1),
        ("never", "ValueError", 1),
        ("transient", "ValueError", 1),
        ("transient", "ConnectionError", 3),
        ("transient", "RuntimeError(network down)", 3),
        ("transient", "TimeoutError", 3),
        ("all", "ValueError", 3),
        ("all", "ConnectionError", 3),
    ],
)
def test_retry_condition(
    runner: DefaultRunner, condition: str, error: str, expected_attempts: int
) -> None:
    calls: list[int] = []
    make_error = _ERRORS[error]
    with WorkflowBuilder("conditions"):

        @task(
            id="raiser",
            retry_attempts=3,
            retry_delay_ms=10,
            retry_jitter=False,
            retry_condition=condition,
        )
        def raiser(ctx: Context) -> Context:
            calls.append(1)
            raise make_error()

    result = runner.execute("conditions", Context())

    assert len(calls) == expected_attempts
    assert result.task_results["raiser"].attempts == expected_attempts
    assert result.task_results["raiser"].status == "Failed"


def test_retry_policy_from_builder(runner: DefaultRunner) -> None:
    policy = (
        RetryPolicy.builder()
        .max_attempts(3)
        .initial_delay(timedelta(milliseconds=10))
        .backoff_strategy(cloaca.BackoffStrategy.fixed())
        .with_jitter(False)
        .build()
    )
    never = (
        RetryPolicy.builder().max_attempts(5).retry_condition(cloaca.RetryCondition.never()).build()
    )
    calls: dict[str, int] = {"flaky": 0, "stubborn": 0}
    with WorkflowBuilder("built_policy"):

        @task(id="flaky", retry=policy)
        def flaky(ctx: Context) -> Context:
            calls["flaky"] += 1
            if calls["flaky"] < 3:
                raise RuntimeError("not yet")
            ctx.set("flaky_done", True)
            return ctx

        @task(id="stubborn", retry=never)
        def stubborn(ctx: Context) -> Context:
            calls["stubborn"] += 1
            raise RuntimeError("never retried")

    result = runner.execute("built_policy", Context())

    assert flaky.retry_policy is policy
    assert result.task_results["flaky"].status == "Completed"
    assert result.task_results["flaky"].attempts == 3
    assert result.task_results["stubborn"].attempts == 1
    assert calls == {"flaky": 3, "stubborn": 1}


# =========================================================================== context flow


def test_context_merge_across_a_diamond(runner: DefaultRunner) -> None:
    with WorkflowBuilder("diamond"):

        @task(id="root")
        def root(ctx: Context) -> Context:
            ctx.set("cfg", {"base": 1, "nested": {"x": 1}})
            ctx.set("items", [1])
            ctx.set("winner", "root")
            return ctx

        @task(id="left", dependencies=["root"])
        def left(ctx: Context) -> None:
            time.sleep(0.05)  # finish last: the merge must follow declaration, not timing
            cfg = ctx.get("cfg")
            ctx.set("cfg", {**cfg, "left": True, "nested": {"x": 1, "l": 2}})
            ctx.set("items", [1, 2])
            ctx.set("winner", "left")
            ctx.set("left_only", "kept although left returned None")

        @task(id="right", dependencies=["root"])
        def right(ctx: Context) -> Context:
            cfg = ctx.get("cfg")
            ctx.set("cfg", {**cfg, "right": True, "nested": {"x": 1, "r": 3}})
            ctx.set("items", [1, 3])
            ctx.set("winner", "right")
            return ctx

        @task(id="join", dependencies=["left", "right"])
        def join(ctx: Context) -> Context:
            ctx.set("join_saw", ctx.to_dict())
            return ctx

    result = runner.execute("diamond", Context({"input": "x"}))

    assert result.status == "Completed"
    saw = result.final_context.get("join_saw")
    assert saw["cfg"] == {
        "base": 1,
        "left": True,
        "right": True,
        "nested": {"x": 1, "l": 2, "r": 3},
    }
    assert saw["items"] == [1, 2, 3]
    assert saw["winner"] == "right"
    assert saw["left_only"] == "kept although left returned None"
    assert saw["input"] == "x"


def test_later_dependency_wins_scalar_conflicts(runner: DefaultRunner) -> None:
    with WorkflowBuilder("order"):

        @task(id="a")
        def a(ctx: Context) -> Context:
            ctx.set("who", "a")
            return ctx

        @task(id="b")
        def b(ctx: Context) -> Context:
            time.sleep(0.05)
            ctx.set("who", "b")
            return ctx

        @task(id="merge", dependencies=["b", "a"])
        def merge(ctx: Context) -> Context:
            ctx.set("merged_who", ctx.get("who"))
            return ctx

    result = runner.execute("order", Context())
    assert result.final_context.get("merged_who") == "a"


def test_final_context_merges_all_sinks(runner: DefaultRunner) -> None:
    with WorkflowBuilder("two_sinks"):

        @task(id="start")
        def start(ctx: Context) -> Context:
            ctx.set("tags", ["start"])
            return ctx

        @task(id="sink_a", dependencies=["start"])
        def sink_a(ctx: Context) -> Context:
            ctx.set("a", 1)
            ctx.set("tags", [*ctx.get("tags"), "a"])
            return ctx

        @task(id="sink_b", dependencies=["start"])
        def sink_b(ctx: Context) -> Context:
            ctx.set("b", 2)
            ctx.set("tags", [*ctx.get("tags"), "b"])
            return ctx

    final = runner.execute("two_sinks", Context()).final_context
    assert final.get("a") == 1
    assert final.get("b") == 2
    assert sorted(final.get("tags")) == ["a", "b", "start"]


def test_task_returning_a_non_context_fails_naming_the_task(runner: DefaultRunner) -> None:
    with WorkflowBuilder("bad_return"):

        @task(id="returns_int", retry_attempts=1)
        def returns_int(ctx: Context) -> int:
            return 5

    result = runner.execute("bad_return", Context())
    assert result.status == "Failed"
    assert "returns_int" in (result.task_results["returns_int"].error or "")


# =========================================================================== trigger rules


def test_default_dependent_of_failed_task_is_skipped(runner: DefaultRunner) -> None:
    ran: list[str] = []
    with WorkflowBuilder("default_rule"):

        @task(id="boom", retry_attempts=1)
        def boom(ctx: Context) -> Context:
            raise ValueError("kaboom")

        @task(id="child", dependencies=["boom"])
        def child(ctx: Context) -> Context:
            ran.append("child")
            return ctx

        @task(id="grandchild", dependencies=["child"])
        def grandchild(ctx: Context) -> Context:
            ran.append("grandchild")
            return ctx

    result = runner.execute("default_rule", Context())

    assert ran == []
    assert result.status == "Failed"
    assert result.task_results["boom"].status == "Failed"
    assert result.task_results["child"].status == "Skipped"
    assert result.task_results["grandchild"].status == "Skipped"
    assert result.task_results["child"].attempts == 0
    assert result.error_message is not None
    assert "boom" in result.error_message
    assert "kaboom" in result.error_message


def test_always_rule_runs_after_a_failure(runner: DefaultRunner) -> None:
    with WorkflowBuilder("always_rule"):

        @task(id="boom", retry_attempts=1)
        def boom(ctx: Context) -> Context:
            raise ValueError("kaboom")

        @task(id="report", dependencies=["boom"], trigger_rules=cloaca.always())
        def report(ctx: Context) -> Context:
            ctx.set("reported", True)
            return ctx

    result = runner.execute("always_rule", Context())

    assert result.task_results["report"].status == "Completed"
    assert result.final_context.get("reported") is True
    assert result.status == "Failed"


@pytest.mark.parametrize("fail", [True, False])
def test_task_failed_rule_runs_cleanup_only_after_failure(
    runner: DefaultRunner, fail: bool
) -> None:
    cleaned: list[str] = []
    with WorkflowBuilder("cleanup"):

        @task(id="risky", retry_attempts=1)
        def risky(ctx: Context) -> Context:
            if ctx.get("fail"):
                raise RuntimeError("risky failed")
            ctx.set("risky_ok", True)
            return ctx

        @task(id="cleanup", dependencies=["risky"], trigger_rules=cloaca.task_failed("risky"))
        def cleanup(ctx: Context) -> Context:
            cleaned.append("cleanup")
            ctx.set("cleaned", True)
            return ctx

    result = runner.execute("cleanup", Context({"fail": fail}))

    if fail:
        assert result.task_results["risky"].status == "Failed"
        assert result.task_results["cleanup"].status == "Completed"
        assert cleaned == ["cleanup"]
        assert result.status == "Failed"
    else:
        assert result.task_results["risky"].status == "Completed"
        assert result.task_results["cleanup"].status == "Skipped"
        assert cleaned == []
        assert result.status == "Completed"


@pytest.mark.parametrize(("mode", "expected"), [("fast", "Completed"), ("slow", "Skipped")])
def test_context_value_rule(runner: DefaultRunner, mode: str, expected: str) -> None:
    ran: list[str] = []
    with WorkflowBuilder("ctx_rule"):

        @task(id="decide")
        def decide(ctx: Context) -> Context:
            ctx.set("mode", ctx.get("requested"))
            return ctx

        @task(
            id="fast_path",
            dependencies=["decide"],
            trigger_rules=cloaca.context_value("mode", "Equals", "fast"),
        )
        def fast_path(ctx: Context) -> Context:
            ran.append("fast_path")
            return ctx

    result = runner.execute("ctx_rule", Context({"requested": mode}))

    assert result.task_results["fast_path"].status == expected
    assert ran == (["fast_path"] if expected == "Completed" else [])
    assert result.status == "Completed"


def test_combinator_rules(runner: DefaultRunner) -> None:
    with WorkflowBuilder("combinators"):

        @task(id="good")
        def good(ctx: Context) -> Context:
            ctx.set("level", 5)
            return ctx

        @task(id="bad", retry_attempts=1)
        def bad(ctx: Context) -> Context:
            raise ValueError("bad")

        deps = ["good", "bad"]

        @task(
            id="all_true",
            dependencies=deps,
            trigger_rules=cloaca.all_of(
                cloaca.task_success("good"),
                cloaca.task_failed("bad"),
                cloaca.context_value("level", "GreaterThan", 3),
            ),
        )
        def all_true(ctx: Context) -> Context:
            return ctx

        @task(
            id="all_false",
            dependencies=deps,
            trigger_rules=cloaca.all_of(cloaca.task_success("good"), cloaca.task_success("bad")),
        )
        def all_false(ctx: Context) -> Context:
            return ctx

        @task(
            id="any_true",
            dependencies=deps,
            trigger_rules=cloaca.any_of(cloaca.task_success("bad"), cloaca.task_success("good")),
        )
        def any_true(ctx: Context) -> Context:
            return ctx

        @task(
            id="any_false",
            dependencies=deps,
            trigger_rules=cloaca.any_of(
                cloaca.task_success("bad"), cloaca.context_value("level", "LessThan", 3)
            ),
        )
        def any_false(ctx: Context) -> Context:
            return ctx

        @task(
            id="none_true",
            dependencies=deps,
            trigger_rules=cloaca.none_of(cloaca.task_success("bad"), cloaca.task_skipped("good")),
        )
        def none_true(ctx: Context) -> Context:
            return ctx

        @task(
            id="none_false",
            dependencies=deps,
            trigger_rules=cloaca.none_of(cloaca.task_failed("bad")),
        )
        def none_false(ctx: Context) -> Context:
            return ctx

    result = runner.execute("combinators", Context())
    statuses = {k: v.status for k, v in result.task_results.items()}

    assert statuses == {
        "good": "Completed",
        "bad": "Failed",
        "all_true": "Completed",
        "all_false": "Skipped",
        "any_true": "Completed",
        "any_false": "Skipped",
        "none_true": "Completed",
        "none_false": "Skipped",
    }


def test_task_with_a_trigger_rule_is_retried_from_its_input(runner: DefaultRunner) -> None:
    seen: list[Any] = []
    with WorkflowBuilder("rule_retry"):

        @task(id="gate")
        def gate(ctx: Context) -> Context:
            ctx.set("open", True)
            return ctx

        @task(
            id="guarded",
            dependencies=["gate"],
            trigger_rules=cloaca.context_value("open", "Equals", True),
            retry_attempts=3,
            retry_delay_ms=10,
        )
        def guarded(ctx: Context) -> Context:
            seen.append(ctx.get("mark"))
            ctx.set("mark", len(seen))
            if len(seen) < 3:
                raise ConnectionError("flaky")
            return ctx

    result = runner.execute("rule_retry", Context())

    assert result.status == "Completed"
    assert result.task_results["guarded"].attempts == 3
    assert seen == [None, None, None]
    assert result.final_context.get("mark") == 3


# =========================================================================== callbacks


def test_callbacks_receive_task_id_error_and_context(runner: DefaultRunner) -> None:
    got: list[tuple[Any, ...]] = []
    with WorkflowBuilder("callback_args"):

        @task(id="ok", on_success=lambda tid, ctx: got.append(("success", tid, ctx.get("v"))))
        def ok(ctx: Context) -> Context:
            ctx.set("v", 41)
            return ctx

        @task(
            id="ko",
            retry_attempts=1,
            on_failure=lambda tid, err, ctx: got.append(("failure", tid, err, ctx.get("w"))),
        )
        def ko(ctx: Context) -> Context:
            ctx.set("w", "partial")
            raise KeyError("missing thing")

    runner.execute("callback_args", Context())

    assert len(got) == 2
    success = next(g for g in got if g[0] == "success")
    failure = next(g for g in got if g[0] == "failure")
    assert success == ("success", "ok", 41)
    _, task_id, error, partial = failure
    assert task_id == "ko"
    assert isinstance(error, str)
    assert "missing thing" in error
    assert partial == "partial"


def test_raising_on_success_does_not_change_the_outcome(runner: DefaultRunner) -> None:
    def explode(task_id: str, ctx: Context) -> None:
        raise RuntimeError("callback exploded")

    with WorkflowBuilder("success_cb_raises"):

        @task(id="first", on_success=explode)
        def first(ctx: Context) -> Context:
            ctx.set("first", True)
            return ctx

        @task(id="second", dependencies=["first"], on_success=explode)
        def second(ctx: Context) -> Context:
            ctx.set("second", True)
            return ctx

    result = runner.execute("success_cb_raises", Context())

    assert result.status == "Completed"
    assert result.error_message is None
    assert result.task_results["first"].status == "Completed"
    assert result.task_results["second"].status == "Completed"
    assert result.task_results["first"].error is None
    assert result.final_context.get("first") is True
    assert result.final_context.get("second") is True


def test_raising_on_failure_does_not_change_the_outcome(runner: DefaultRunner) -> None:
    def explode(task_id: str, error: str, ctx: Context) -> None:
        raise RuntimeError("callback exploded")

    with WorkflowBuilder("failure_cb_raises"):

        @task(id="boom", retry_attempts=1, on_failure=explode)
        def boom(ctx: Context) -> Context:
            raise ValueError("original error")

        @task(id="child", dependencies=["boom"])
        def child(ctx: Context) -> Context:
            return ctx

        @task(id="bystander")
        def bystander(ctx: Context) -> Context:
            ctx.set("bystander", True)
            return ctx

    result = runner.execute("failure_cb_raises", Context())

    assert result.status == "Failed"
    assert result.task_results["boom"].status == "Failed"
    assert "original error" in (result.task_results["boom"].error or "")
    assert "callback exploded" not in (result.task_results["boom"].error or "")
    assert "callback exploded" not in (result.error_message or "")
    assert result.task_results["child"].status == "Skipped"
    assert result.task_results["bystander"].status == "Completed"


def test_async_callbacks_run_before_execute_returns(runner: DefaultRunner) -> None:
    events: list[tuple[str, str]] = []

    async def on_ok(task_id: str, ctx: Context) -> None:
        await asyncio.sleep(0.02)
        events.append(("success", task_id))

    async def on_ko(task_id: str, error: str, ctx: Context) -> None:
        await asyncio.sleep(0.02)
        events.append(("failure", task_id))

    async def on_ok_raises(task_id: str, ctx: Context) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async callback exploded")

    with WorkflowBuilder("async_callbacks"):

        @task(id="ok", on_success=on_ok, on_failure=on_ko)
        def ok(ctx: Context) -> Context:
            return ctx

        @task(id="ko", retry_attempts=1, on_success=on_ok, on_failure=on_ko)
        async def ko(ctx: Context) -> Context:
            raise ValueError("async task failed")

        @task(id="also_ok", on_success=on_ok_raises)
        async def also_ok(ctx: Context) -> Context:
            return ctx

    result = runner.execute("async_callbacks", Context())

    assert sorted(events) == [("failure", "ko"), ("success", "ok")]
    assert result.task_results["ok"].status == "Completed"
    assert result.task_results["ko"].status == "Failed"
    assert result.task_results["also_ok"].status == "Completed"


def _result_within(handle: cloaca.RunHandle, seconds: float) -> cloaca.WorkflowResult | None:
    """The run's result, or None if it has not finished within ``seconds``."""
    box: list[cloaca.WorkflowResult] = []
    waiter = threading.Thread(target=lambda: box.append(handle.result()), daemon=True)
    waiter.start()
    waiter.join(seconds)
    return box[0] if box else None


@pytest.mark.timeout(30)
def test_callback_raising_system_exit_does_not_break_the_runner(db_url: str) -> None:
    def leaves(task_id: str, ctx: Context) -> None:
        raise SystemExit(3)

    with WorkflowBuilder("exit_cb"):

        @task(id="t", on_success=leaves)
        def t(ctx: Context) -> Context:
            ctx.set("done", True)
            return ctx

    runner = DefaultRunner(db_url)
    first = _result_within(runner.start("exit_cb", Context()), 3)
    # If the engine's loop died, shutting the runner down would wait for it in vain,
    # so the runner is only shut down once both runs have finished.
    assert first is not None, "a callback raising SystemExit left the run unfinished"
    assert first.status == "Completed"
    assert first.final_context.get("done") is True
    second = _result_within(runner.start("exit_cb", Context()), 3)
    assert second is not None, "the runner stopped working after a callback raised SystemExit"
    assert second.status == "Completed"
    runner.shutdown()


# =========================================================================== async & parallel


def test_async_tasks_run_and_pass_context(runner: DefaultRunner) -> None:
    with WorkflowBuilder("async_chain"):

        @task(id="a")
        async def a(ctx: Context) -> Context:
            await asyncio.sleep(0.01)
            ctx.set("a", 1)
            return ctx

        @task(id="b", dependencies=["a"])
        def b(ctx: Context) -> Context:
            ctx.set("b", ctx.get("a") + 1)
            return ctx

        @task(id="c", dependencies=["b"])
        async def c(ctx: Context) -> None:
            ctx.set("c", ctx.get("b") + 1)

        @task(id="d", dependencies=["c"], retry_attempts=1)
        async def d(ctx: Context) -> Context:
            raise ValueError(f"c was {ctx.get('c')}")

    result = runner.execute("async_chain", Context())

    assert result.task_results["c"].status == "Completed"
    assert result.task_results["d"].status == "Failed"
    assert "c was 3" in (result.task_results["d"].error or "")


def _overlap_workflow(name: str, is_async: bool, intervals: list[tuple[float, float]]) -> None:
    lock = threading.Lock()

    def record(start: float) -> None:
        with lock:
            intervals.append((start, time.monotonic()))

    with WorkflowBuilder(name):
        for i in range(4):
            if is_async:

                async def body(ctx: Context) -> Context:
                    start = time.monotonic()
                    await asyncio.sleep(0.2)
                    record(start)
                    return ctx

            else:

                def body(ctx: Context) -> Context:
                    start = time.monotonic()
                    time.sleep(0.2)
                    record(start)
                    return ctx

            task(id=f"sleeper_{i}")(body)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_tasks_run_in_parallel(db_url: str, is_async: bool) -> None:
    intervals: list[tuple[float, float]] = []
    _overlap_workflow("parallel", is_async, intervals)

    with DefaultRunner(db_url, DefaultRunnerConfig(max_concurrent_tasks=4)) as runner:
        started = time.monotonic()
        result = runner.execute("parallel", Context())
        elapsed = time.monotonic() - started

    assert result.status == "Completed"
    assert len(intervals) == 4
    # All four were running at one moment: the latest start precedes the earliest end.
    assert max(s for s, _ in intervals) < min(e for _, e in intervals)
    assert elapsed < 0.6


def test_max_concurrent_tasks_is_respected(db_url: str) -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    with WorkflowBuilder("bounded"):
        for i in range(6):

            def body(ctx: Context) -> Context:
                with lock:
                    state["now"] += 1
                    state["peak"] = max(state["peak"], state["now"])
                time.sleep(0.05)
                with lock:
                    state["now"] -= 1
                return ctx

            task(id=f"t{i}")(body)

    with DefaultRunner(db_url, DefaultRunnerConfig(max_concurrent_tasks=2)) as runner:
        result = runner.execute("bounded", Context())

    assert result.status == "Completed"
    assert state["peak"] == 2


def test_ready_tasks_start_in_priority_order(db_url: str) -> None:
    order: list[str] = []
    with WorkflowBuilder("priorities"):
        for name, priority in (("low", 0), ("mid", 5), ("high", 10)):

            def body(ctx: Context, name: str = name) -> Context:
                order.append(name)
                return ctx

            task(id=name, priority=priority)(body)

    with DefaultRunner(db_url, DefaultRunnerConfig(max_concurrent_tasks=1)) as runner:
        result = runner.execute("priorities", Context())

    assert result.status == "Completed"
    assert order == ["high", "mid", "low"]


# =========================================================================== task handles


@pytest.mark.timeout(30)
def test_deferring_task_gives_its_slot_to_another(db_url: str) -> None:
    worker_done = threading.Event()
    events: list[str] = []
    deadline = time.monotonic() + 5  # without slot release the waiter gives up here

    with WorkflowBuilder("defer"):

        @task(id="waiter", retry_attempts=1)
        def waiter(ctx: Context, handle: cloaca.TaskHandle) -> Context:
            events.append("waiter:start")
            handle.defer_until(
                lambda: worker_done.is_set() or time.monotonic() > deadline,
                poll_interval_ms=10,
            )
            events.append("waiter:resumed")
            ctx.set("saw_worker", worker_done.is_set())
            return ctx

        @task(id="worker", retry_attempts=1)
        def worker(ctx: Context) -> Context:
            events.append("worker:run")
            worker_done.set()
            ctx.set("worked", True)
            return ctx

    with DefaultRunner(db_url, DefaultRunnerConfig(max_concurrent_tasks=1)) as runner:
        result = runner.start("defer", Context()).result(timeout=15)

    assert events == ["waiter:start", "worker:run", "waiter:resumed"]
    assert result.status == "Completed"
    assert result.final_context.get("saw_worker") is True
    assert result.final_context.get("worked") is True


@pytest.mark.timeout(30)
def test_async_task_awaits_defer_until(db_url: str) -> None:
    worker_done = threading.Event()
    events: list[str] = []
    deadline = time.monotonic() + 5

    with WorkflowBuilder("async_defer"):

        @task(id="waiter", retry_attempts=1)
        async def waiter(ctx: Context, handle: cloaca.TaskHandle) -> Context:
            events.append("waiter:start")
            held_before = handle.is_slot_held()
            await handle.defer_until(
                lambda: worker_done.is_set() or time.monotonic() > deadline,
                poll_interval_ms=10,
            )
            events.append("waiter:resumed")
            ctx.set("held", [held_before, handle.is_slot_held()])
            return ctx

        @task(id="worker", retry_attempts=1)
        async def worker(ctx: Context) -> Context:
            events.append("worker:run")
            worker_done.set()
            return ctx

    with DefaultRunner(db_url, DefaultRunnerConfig(max_concurrent_tasks=1)) as runner:
        result = runner.start("async_defer", Context()).result(timeout=15)

    assert events == ["waiter:start", "worker:run", "waiter:resumed"]
    assert result.status == "Completed"
    assert result.final_context.get("held") == [True, True]


@pytest.mark.timeout(30)
def test_is_slot_held_reports_the_slot(runner: DefaultRunner) -> None:
    observed: list[tuple[str, bool]] = []
    loop_busy = threading.Event()

    with WorkflowBuilder("slot_held"):

        @task(id="watcher", retry_attempts=1)
        def watcher(ctx: Context, handle: cloaca.TaskHandle) -> Context:
            observed.append(("before", handle.is_slot_held()))
            # Defer while the engine's event loop is busy, so the result cannot depend
            # on how quickly the loop handles work that defer_until hands to it.
            loop_busy.wait(5)
            polls = [0]

            def condition() -> bool:
                polls[0] += 1
                observed.append(("deferring", handle.is_slot_held()))
                return polls[0] >= 3

            handle.defer_until(condition, poll_interval_ms=10)
            observed.append(("after", handle.is_slot_held()))
            return ctx

        @task(id="hog", retry_attempts=1)
        async def hog(ctx: Context) -> Context:
            loop_busy.set()
            time.sleep(0.1)  # blocks the engine's loop on purpose
            return ctx

    result = runner.start("slot_held", Context()).result(timeout=10)

    assert result.status == "Completed"
    assert observed[0] == ("before", True)
    assert observed[-1] == ("after", True)
    during = [held for phase, held in observed if phase == "deferring"]
    assert len(during) == 3
    # defer_until releases the slot *before* it polls the condition.
    assert during == [False, False, False]


@pytest.mark.timeout(30)
def test_timed_out_deferring_task_does_not_keep_a_slot(db_url: str) -> None:
    ready = threading.Event()
    with WorkflowBuilder("defers_too_long"):

        @task(id="deferrer", timeout=0.1, retry_attempts=1)
        def deferrer(ctx: Context, handle: cloaca.TaskHandle) -> Context:
            handle.defer_until(ready.is_set, poll_interval_ms=10)
            return ctx

    _simple_workflow("after_timeout")
    config = DefaultRunnerConfig(max_concurrent_tasks=1, shutdown_timeout_seconds=1)
    with DefaultRunner(db_url, config) as runner:
        timed_out = runner.execute("defers_too_long", Context())
        assert timed_out.task_results["deferrer"].status == "Failed"
        assert "TaskTimeoutError" in (timed_out.task_results["deferrer"].error or "")
        # The abandoned thread's condition now becomes true; it must not take the
        # only slot for good.
        ready.set()
        time.sleep(0.1)
        later = _result_within(runner.start("after_timeout", Context({"n": 1})), 3)
        assert later is not None, "the next run never got a concurrency slot"
        assert later.status == "Completed"


def test_handle_is_consumed_after_the_task_ends(runner: DefaultRunner) -> None:
    kept: list[cloaca.TaskHandle] = []

    with WorkflowBuilder("consumed"):

        @task(id="keeper")
        def keeper(ctx: Context, handle: cloaca.TaskHandle) -> Context:
            kept.append(handle)
            ctx.set("held_inside", handle.is_slot_held())
            return ctx

    result = runner.execute("consumed", Context())

    assert result.final_context.get("held_inside") is True
    assert len(kept) == 1
    with pytest.raises(ValueError, match="consumed"):
        kept[0].is_slot_held()
    with pytest.raises(ValueError, match="consumed"):
        kept[0].defer_until(lambda: True, poll_interval_ms=10)


def test_defer_until_validates_its_arguments(runner: DefaultRunner) -> None:
    errors: list[str] = []

    with WorkflowBuilder("defer_args"):

        @task(id="checker")
        def checker(ctx: Context, handle: cloaca.TaskHandle) -> Context:
            for bad in (
                lambda: handle.defer_until("not callable", poll_interval_ms=10),  # type: ignore[arg-type]
                lambda: handle.defer_until(lambda: True, poll_interval_ms=-5),
            ):
                try:
                    bad()
                except (TypeError, ValueError) as exc:
                    errors.append(type(exc).__name__)
            return ctx

    result = runner.execute("defer_args", Context())

    assert result.status == "Completed"
    assert errors == ["TypeError", "ValueError"]


# =========================================================================== threads & async API


def test_execute_from_eight_threads_at_once(runner: DefaultRunner) -> None:
    with WorkflowBuilder("concurrent"):

        @task(id="double")
        def double(ctx: Context) -> Context:
            time.sleep(0.01)
            ctx.set("out", ctx.get("n") * 2)
            return ctx

        @task(id="label", dependencies=["double"])
        async def label(ctx: Context) -> Context:
            ctx.set("label", f"n={ctx.get('n')}")
            return ctx

    barrier = threading.Barrier(8)

    def call(n: int) -> cloaca.WorkflowResult:
        barrier.wait(timeout=30)
        return runner.execute("concurrent", Context({"n": n}))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(call, range(8)))

    assert [r.status for r in results] == ["Completed"] * 8
    assert [r.final_context.get("out") for r in results] == [n * 2 for n in range(8)]
    assert [r.final_context.get("label") for r in results] == [f"n={n}" for n in range(8)]
    assert len({r.run_id for r in results}) == 8


def test_start_returns_a_handle(runner: DefaultRunner) -> None:
    gate = threading.Event()
    with WorkflowBuilder("gated"):

        @task(id="gated")
        def gated(ctx: Context) -> Context:
            ctx.set("opened", gate.wait(5))
            return ctx

    handle = runner.start("gated", Context())
    try:
        assert handle.status() == "Running"
        with pytest.raises(TimeoutError):
            handle.result(timeout=0.05)
    finally:
        gate.set()
    result = handle.result(timeout=30)

    assert result.status == "Completed"
    assert result.run_id == handle.run_id
    assert result.final_context.get("opened") is True
    assert handle.status() == "Completed"
    assert handle.cancel() is False


@pytest.mark.timeout(30)
def test_cancel_a_running_run(runner: DefaultRunner, db_url: str) -> None:
    started = threading.Event()
    cancelled = threading.Event()
    after_ran: list[bool] = []

    with WorkflowBuilder("cancellable"):

        @task(id="sleeper")
        async def sleeper(ctx: Context) -> Context:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return ctx

        @task(id="after", dependencies=["sleeper"])
        def after(ctx: Context) -> Context:
            after_ran.append(True)
            return ctx

    handle = runner.start("cancellable", Context())
    assert started.wait(30)
    assert handle.cancel() is True
    result = handle.result(timeout=30)

    assert result.status == "Cancelled"
    assert handle.status() == "Cancelled"
    assert cancelled.wait(2)
    assert result.task_results["sleeper"].status == "Cancelled"
    assert result.task_results["after"].status == "Cancelled"
    assert after_ran == []
    assert handle.cancel() is False
    journal = open_journal(db_url)
    try:
        run = journal.get_run(handle.run_id)
        tasks = {t.task_key: t.status for t in journal.get_tasks(handle.run_id)}
    finally:
        journal.close()
    assert run is not None
    assert run.status == "Cancelled"
    assert tasks == {"sleeper": "Cancelled", "after": "Cancelled"}


@pytest.mark.timeout(30)
def test_cancel_a_run_whose_sync_task_is_running(runner: DefaultRunner) -> None:
    started = threading.Event()
    release = threading.Event()
    with WorkflowBuilder("cancel_sync"):

        @task(id="blocking")
        def blocking(ctx: Context) -> Context:
            started.set()
            release.wait(30)
            return ctx

    handle = runner.start("cancel_sync", Context())
    try:
        assert started.wait(30)
        assert handle.cancel() is True
        result = handle.result(timeout=30)
    finally:
        release.set()

    assert result.status == "Cancelled"
    assert result.task_results["blocking"].status == "Cancelled"


def test_result_async_and_runner_result(runner: DefaultRunner) -> None:
    _simple_workflow()
    handle = runner.start("simple", Context({"n": 4}))
    result = asyncio.run(handle.result_async())
    assert result.final_context.get("out") == 8
    again = runner.result(handle.run_id, timeout=5)
    assert again.run_id == handle.run_id
    assert again.final_context.get("out") == 8
    with pytest.raises(KeyError):
        runner.result("no-such-run", timeout=1)


def test_execute_async_does_not_block_the_calling_loop(runner: DefaultRunner) -> None:
    gate = threading.Event()
    with WorkflowBuilder("async_api"):

        @task(id="waits_for_gate")
        def waits_for_gate(ctx: Context) -> Context:
            ctx.set("gate_opened", gate.wait(2))
            ctx.set("out", ctx.get("n", 0) + 100)
            return ctx

    async def main() -> list[cloaca.WorkflowResult]:
        pending = asyncio.ensure_future(
            asyncio.gather(
                *(runner.execute_async("async_api", Context({"n": n})) for n in range(3))
            )
        )
        await asyncio.sleep(0.05)  # only runs if execute_async left the loop free
        gate.set()
        return list(await pending)

    results = asyncio.run(main())

    assert [r.status for r in results] == ["Completed"] * 3
    assert [r.final_context.get("out") for r in results] == [100, 101, 102]
    assert all(r.final_context.get("gate_opened") is True for r in results)


# =========================================================================== timeouts


def test_task_timeout_seconds_cancels_an_async_body(db_url: str) -> None:
    cancelled = threading.Event()
    with WorkflowBuilder("async_timeout"):

        @task(id="slow", retry_attempts=1)
        async def slow(ctx: Context) -> Context:
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return ctx

    config = DefaultRunnerConfig(task_timeout_seconds=0.1)
    with DefaultRunner(db_url, config) as runner:
        started = time.monotonic()
        result = runner.execute("async_timeout", Context())
        elapsed = time.monotonic() - started

    assert result.status == "Failed"
    assert result.task_results["slow"].status == "Failed"
    assert "TaskTimeoutError" in (result.task_results["slow"].error or "")
    assert "slow" in (result.error_message or "")
    assert cancelled.is_set()
    assert elapsed < 3


def test_task_timeout_seconds_fails_a_sync_body(db_url: str) -> None:
    release = threading.Event()
    with WorkflowBuilder("sync_timeout"):

        @task(id="stuck", retry_attempts=1)
        def stuck(ctx: Context) -> Context:
            release.wait(2)
            return ctx

    config = DefaultRunnerConfig(task_timeout_seconds=0.1)
    with DefaultRunner(db_url, config) as runner:
        started = time.monotonic()
        try:
            result = runner.execute("sync_timeout", Context())
        finally:
            elapsed = time.monotonic() - started
            release.set()

    assert result.status == "Failed"
    error = result.task_results["stuck"].error or ""
    assert "TaskTimeoutError" in error
    assert "timed out" in error
    assert "stuck" in (result.error_message or "")
    assert elapsed < 1.5  # failed on time, without waiting for the thread


def test_workflow_timeout_seconds_fails_the_run(db_url: str) -> None:
    with WorkflowBuilder("wf_timeout"):

        @task(id="forever")
        async def forever(ctx: Context) -> Context:
            await asyncio.sleep(10)
            return ctx

        @task(id="next", dependencies=["forever"])
        def next_(ctx: Context) -> Context:
            return ctx

    config = DefaultRunnerConfig(workflow_timeout_seconds=0.2)
    with DefaultRunner(db_url, config) as runner:
        started = time.monotonic()
        result = runner.execute("wf_timeout", Context())
        elapsed = time.monotonic() - started

    assert result.status == "Failed"
    assert result.error_message is not None
    assert "timed out" in result.error_message
    assert result.task_results["forever"].status not in ("Completed", "Running")
    assert result.task_results["next"].status not in ("Completed", "Running")
    assert elapsed < 5


def test_task_timeout_option(db_url: str) -> None:
    with WorkflowBuilder("task_timeout_option"):

        @task(id="too_slow", timeout=0.1, retry_attempts=1)
        async def too_slow(ctx: Context) -> Context:
            await asyncio.sleep(5)
            return ctx

        @task(id="patient", timeout=2)
        async def patient(ctx: Context) -> Context:
            await asyncio.sleep(0.15)
            ctx.set("patient", True)
            return ctx

    # The runner default (0.05 s) applies only to tasks that set no timeout of their own.
    config = DefaultRunnerConfig(task_timeout_seconds=0.05)
    with DefaultRunner(db_url, config) as runner:
        result = runner.execute("task_timeout_option", Context())

    assert result.task_results["too_slow"].status == "Failed"
    assert "TaskTimeoutError" in (result.task_results["too_slow"].error or "")
    assert result.task_results["patient"].status == "Completed"
    assert result.final_context.get("patient") is True


# =========================================================================== results & journal


def test_workflow_result_fields(runner: DefaultRunner) -> None:
    with WorkflowBuilder("fields"):

        @task(id="first")
        def first(ctx: Context) -> Context:
            time.sleep(0.02)
            ctx.set("first", True)
            return ctx

        @task(id="second", dependencies=["first"])
        def second(ctx: Context) -> Context:
            ctx.set("second", True)
            return ctx

    result = runner.execute("fields", Context({"in": 1}))

    assert isinstance(result, cloaca.WorkflowResult)
    assert isinstance(result.run_id, str)
    assert result.run_id
    assert result.workflow_name == "fields"
    assert result.status == "Completed"
    assert result.is_success
    assert result.error_message is None
    assert isinstance(result.started_at, datetime)
    assert result.ended_at is not None
    assert result.started_at <= result.ended_at
    assert result.start_time == result.started_at.isoformat()  # Cloaca's RFC 3339 strings
    assert result.duration is not None
    assert result.duration >= 0.02
    assert result.final_context.to_dict() == {"in": 1, "first": True, "second": True}
    assert set(result.task_results) == {"first", "second"}
    first_outcome = result.task_results["first"]
    assert first_outcome.task_id == "first"
    assert first_outcome.status == "Completed"
    assert first_outcome.attempts == 1
    assert first_outcome.duration is not None
    assert first_outcome.duration >= 0.02
    assert first_outcome.error is None


def test_journal_records_the_run(runner: DefaultRunner, db_url: str) -> None:
    with WorkflowBuilder("journaled"):

        @task(id="a")
        def a(ctx: Context) -> Context:
            ctx.set("a", 1)
            return ctx

        @task(id="b", dependencies=["a"], retry_attempts=2, retry_delay_ms=10)
        def b(ctx: Context) -> Context:
            raise ValueError("b is broken")

    result = runner.execute("journaled", Context({"input": True}))

    journal = open_journal(db_url)
    try:
        run = journal.get_run(result.run_id)
        tasks = {t.task_key: t for t in journal.get_tasks(result.run_id)}
        events = journal.get_events(result.run_id)
    finally:
        journal.close()

    assert run is not None
    assert run.workflow_name == "journaled"
    assert run.status == "Failed"
    assert json.loads(run.input_json) == {"input": True}
    assert "b is broken" in (run.error or "")
    assert run.ended_at is not None
    assert set(tasks) == {"a", "b"}
    assert tasks["a"].status == "Completed"
    assert json.loads(tasks["a"].output_json or "null") == {"input": True, "a": 1}
    assert tasks["b"].status == "Failed"
    assert tasks["b"].attempt == 2
    kinds = [e.kind for e in events]
    assert kinds.count("task_started") == 3
    assert "task_succeeded" in kinds
    assert "task_retry" in kinds
    assert "task_failed" in kinds
    assert kinds[-1] == "run_finished"
    assert {e.task_key for e in events if e.task_key} == {"a", "b"}


# =========================================================================== errors & URLs


def test_unknown_workflow_raises_value_error(runner: DefaultRunner) -> None:
    with pytest.raises(ValueError, match="no_such_workflow"):
        runner.execute("no_such_workflow", Context())


@pytest.mark.parametrize(
    ("url", "mentioned"),
    [
        ("nonsense", "nonsense"),
        ("sqlite://", "sqlite://"),
        ("ftp://x", "ftp"),
        ("mysql://localhost/db", "mysql"),
        ("://x", "://x"),
    ],
)
def test_bad_database_urls(url: str, mentioned: str) -> None:
    with pytest.raises(ValueError) as info:
        DefaultRunner(url)
    assert mentioned in str(info.value)


def test_non_json_context_value_raises_type_error_naming_the_key(runner: DefaultRunner) -> None:
    _simple_workflow()
    with pytest.raises(TypeError, match="when"):
        runner.execute("simple", {"when": datetime.now()})
    with pytest.raises(TypeError, match="deep"):
        runner.execute("simple", {"cfg": {"deep": {1, 2}}})
    with pytest.raises(TypeError, match="when"):
        Context({"when": datetime.now()})
    with pytest.raises(TypeError):
        runner.execute("simple", ["not", "a", "context"])  # type: ignore[arg-type]
    assert runner.execute("simple", {"n": 2}).final_context.get("out") == 4


def test_task_storing_non_json_fails_naming_the_key(runner: DefaultRunner) -> None:
    with WorkflowBuilder("bad_value"):

        @task(id="stores_object", retry_attempts=1)
        def stores_object(ctx: Context) -> Context:
            ctx.set("handle_obj", object())
            return ctx

    result = runner.execute("bad_value", Context())

    assert result.status == "Failed"
    error = result.task_results["stores_object"].error or ""
    assert "TypeError" in error
    assert "handle_obj" in error


def test_runner_is_a_context_manager(db_url: str) -> None:
    _simple_workflow()
    with DefaultRunner(db_url) as runner:
        assert runner.execute("simple", Context({"n": 3})).final_context.get("out") == 6
    with pytest.raises(RuntimeError):
        runner.execute("simple", Context({"n": 3}))


def test_execute_after_shutdown_raises_runtime_error(db_url: str) -> None:
    _simple_workflow()
    runner = DefaultRunner(db_url)
    assert runner.execute("simple", Context({"n": 1})).status == "Completed"
    runner.shutdown()
    runner.shutdown()  # idempotent
    with pytest.raises(RuntimeError):
        runner.execute("simple", Context({"n": 1}))
    with pytest.raises(RuntimeError):
        runner.start("simple", Context({"n": 1}))


@pytest.mark.parametrize("url", ["sqlite://:memory:", "memory://"])
def test_in_memory_urls(url: str) -> None:
    _simple_workflow()
    with DefaultRunner(url) as runner:
        assert runner.url == url
        results = [runner.execute("simple", Context({"n": n})) for n in range(3)]
        assert [r.final_context.get("out") for r in results] == [0, 2, 4]
        assert runner.result(results[1].run_id).final_context.get("out") == 2


def test_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _simple_workflow()
    with DefaultRunner("sqlite://rel.db") as runner:
        result = runner.execute("simple", Context({"n": 5}))
    assert result.final_context.get("out") == 10
    assert (tmp_path / "rel.db").exists()
    journal = open_journal(f"sqlite:///{tmp_path / 'rel.db'}")
    try:
        run = journal.get_run(result.run_id)
        assert run is not None
        assert run.status == "Completed"
    finally:
        journal.close()


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'from_env.db'}"
    monkeypatch.setenv("TASKLOOM_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    _simple_workflow()
    with DefaultRunner() as runner:
        assert runner.url == url
        result = runner.execute("simple", Context({"n": 7}))
    assert result.final_context.get("out") == 14
    assert (tmp_path / "from_env.db").exists()
    assert not (tmp_path / "taskloom.db").exists()


def test_default_url_without_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKLOOM_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    _simple_workflow()
    with DefaultRunner() as runner:
        assert runner.execute("simple", Context({"n": 1})).status == "Completed"
    assert (tmp_path / "taskloom.db").exists()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_config_rejects_bad_max_concurrent_tasks(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_concurrent_tasks"):
        DefaultRunnerConfig(max_concurrent_tasks=bad)


@pytest.mark.parametrize("field", ["task_timeout_seconds", "workflow_timeout_seconds"])
@pytest.mark.parametrize("bad", [0, -1, float("nan"), "5", True])
def test_config_rejects_bad_timeouts(field: str, bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=field):
        DefaultRunnerConfig(**{field: bad})


def test_execute_accepts_a_workflow_object_and_a_dict(runner: DefaultRunner) -> None:
    _simple_workflow()
    from taskloom.core.registry import lookup_workflow

    workflow = lookup_workflow("simple")
    assert workflow is not None
    result = runner.execute(workflow, {"n": 21})
    assert result.final_context.get("out") == 42
    assert result.workflow_name == "simple"
