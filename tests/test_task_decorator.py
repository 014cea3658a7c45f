"""Tests of the ``@task`` decorator: option validation, dependencies, handle detection, wrapping."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

import taskloom as cloaca
from taskloom import (
    Context,
    DefaultRunner,
    RetryPolicy,
    TaskDefinition,
    WorkflowBuilder,
    task,
)
from taskloom.core.registry import lookup_task


@pytest.fixture
def runner(db_url: str) -> Iterator[DefaultRunner]:
    r = DefaultRunner(db_url)
    yield r
    r.shutdown()


def _body(ctx: Context) -> Context:
    return ctx


# =========================================================================== retry options


@pytest.mark.parametrize(
    ("option", "value", "valid"),
    [
        ("retry_backoff", "quadratic", ("fixed", "linear", "exponential")),
        ("retry_backoff", "Fixed", ("fixed", "linear", "exponential")),
        ("retry_condition", "sometimes", ("never", "transient", "all")),
        ("retry_condition", "always", ("never", "transient", "all")),
    ],
)
def test_bad_retry_strings_list_the_valid_ones(
    option: str, value: str, valid: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError) as info:
        task(id="t", **{option: value})(_body)
    message = str(info.value)
    assert option in message
    assert value in message
    for name in valid:
        assert repr(name) in message or name in message


def test_retry_policy_and_retry_attempts_conflict() -> None:
    policy = RetryPolicy.builder().max_attempts(2).build()
    with pytest.raises(ValueError, match="retry_attempts"):
        task(id="t", retry=policy, retry_attempts=3)(_body)
    with pytest.raises(ValueError, match="retry_delay_ms"):
        task(id="t", retry=policy, retry_delay_ms=10)(_body)


def test_retries_and_retry_attempts_conflict() -> None:
    with pytest.raises(ValueError) as info:
        task(id="t", retries=2, retry_attempts=3)(_body)
    assert "retries" in str(info.value)
    assert "retry_attempts" in str(info.value)


def test_retry_must_be_a_retry_policy() -> None:
    with pytest.raises(TypeError):
        task(id="t", retry=3)(_body)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"retry_attempts": "3"}, TypeError),
        ({"retry_attempts": -1}, ValueError),
        ({"retry_attempts": 2.5}, TypeError),
        ({"retry_delay_ms": -10}, ValueError),
        ({"retry_delay_ms": "10"}, TypeError),
        ({"retry_max_delay_ms": float("nan")}, ValueError),
        ({"retry_backoff": 5, "retry_attempts": 2}, ValueError),
    ],
)
def test_bad_retry_values(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        task(id="t", **options)(_body)


def test_cloaca_retry_options_become_a_policy() -> None:
    definition = task(
        id="t",
        retry_attempts=5,
        retry_backoff="linear",
        retry_delay_ms=250,
        retry_max_delay_ms=2000,
        retry_condition="transient",
        retry_jitter=False,
    )(_body)
    policy = definition.retry_policy
    assert policy.max_attempts == 5
    assert policy.backoff.kind == "linear"
    assert policy.initial_delay == pytest.approx(0.25)
    assert policy.max_delay == pytest.approx(2.0)
    assert policy.condition.kind == "transient"
    assert policy.jitter.kind == "none"


def test_default_policy_is_cloacas() -> None:
    policy = task(id="t")(_body).retry_policy
    assert policy.max_attempts == 3
    assert policy.backoff.kind == "exponential"
    assert policy.initial_delay == pytest.approx(1.0)
    assert policy.condition.kind == "all"


def test_explicit_retry_policy_is_kept() -> None:
    policy = RetryPolicy.builder().max_attempts(7).build()
    assert task(id="a", retry=policy)(_body).retry_policy is policy
    assert task(id="b", retry_policy=policy)(_body).retry_policy is policy


# =========================================================================== other options


@pytest.mark.parametrize("timeout", [0, -1, -0.5, float("nan")])
def test_non_positive_timeout_is_rejected(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        task(id="t", timeout=timeout)(_body)


@pytest.mark.parametrize("timeout", ["5", True, [1]])
def test_timeout_of_the_wrong_type_is_rejected(timeout: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="timeout"):
        task(id="t", timeout=timeout)(_body)


def test_valid_timeouts_are_kept_as_seconds() -> None:
    assert task(id="a", timeout=2)(_body).timeout == 2.0
    assert task(id="b", timeout=0.25)(_body).timeout == 0.25
    assert task(id="c")(_body).timeout is None


@pytest.mark.parametrize("priority", ["high", 1.5, True, None])
def test_priority_must_be_an_int(priority: Any) -> None:
    with pytest.raises(TypeError, match="priority"):
        task(id="t", priority=priority)(_body)


def test_priority_is_kept() -> None:
    assert task(id="t", priority=-3)(_body).priority == -3
    assert task(id="u")(_body).priority == 0


@pytest.mark.parametrize("option", ["on_success", "on_failure"])
@pytest.mark.parametrize("value", ["log_it", 42, ["f"]])
def test_callbacks_must_be_callable(option: str, value: Any) -> None:
    with pytest.raises(TypeError, match=option):
        task(id="t", **{option: value})(_body)


def test_callbacks_are_kept() -> None:
    def ok(task_id: str, ctx: Context) -> None:
        pass

    async def ko(task_id: str, error: str, ctx: Context) -> None:
        pass

    definition = task(id="t", on_success=ok, on_failure=ko)(_body)
    assert definition.on_success is ok
    assert definition.on_failure is ko


def test_trigger_rules_of_the_wrong_type_are_rejected() -> None:
    with pytest.raises(TypeError, match="trigger"):
        task(id="t", trigger_rules="always")(_body)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trigger"):
        task(id="u", trigger_rules=[cloaca.always(), "x"])(_body)  # type: ignore[list-item]


def test_trigger_rules_list_means_all_of() -> None:
    rule_a = cloaca.task_success("a")
    rule_b = cloaca.context_value("k", "Equals", 1)
    definition = task(id="t", trigger_rules=[rule_a, rule_b])(_body)
    assert definition.trigger_rule == cloaca.all_of(rule_a, rule_b)
    assert task(id="u", trigger_rules=rule_a)(_body).trigger_rule is rule_a


def test_id_and_name_must_agree() -> None:
    with pytest.raises(ValueError):
        task(id="a", name="b")(_body)
    assert task(id="same", name="same")(_body).task_id == "same"
    assert task(name="by_name")(_body).task_id == "by_name"


@pytest.mark.parametrize("bad_id", ["", "   "])
def test_empty_id_is_rejected(bad_id: str) -> None:
    with pytest.raises(ValueError):
        task(id=bad_id)(_body)


def test_decorating_a_non_function_is_rejected() -> None:
    with pytest.raises(TypeError):
        task(id="t")(42)  # type: ignore[arg-type]


# =========================================================================== dependencies


def test_dependencies_given_as_functions(runner: DefaultRunner) -> None:
    with WorkflowBuilder("deps_as_functions"):

        @task(id="fetch")
        def fetch(ctx: Context) -> Context:
            ctx.set("order", ["fetch"])
            return ctx

        @task(dependencies=[fetch])
        def clean(ctx: Context) -> Context:
            ctx.set("order", [*ctx.get("order"), "clean"])
            return ctx

        @task(id="store", dependencies=[fetch, clean, "fetch"])
        def store(ctx: Context) -> Context:
            ctx.set("order", [*ctx.get("order"), "store"])
            return ctx

        @task(id="publish", dependencies=[store])
        def publish(ctx: Context) -> Context:
            ctx.set("published", True)
            return ctx

    assert clean.task_id == "clean"
    assert clean.dependencies == ("fetch",)
    assert store.dependencies == ("fetch", "clean")
    assert publish.dependencies == ("store",)
    result = runner.execute("deps_as_functions", Context())
    assert result.status == "Completed"
    assert result.final_context.get("order") == ["fetch", "clean", "store"]
    assert result.final_context.get("published") is True


def test_plain_function_dependency_uses_its_name() -> None:
    def upstream(ctx: Context) -> Context:
        return ctx

    assert task(id="t", dependencies=[upstream])(_body).dependencies == ("upstream",)


@pytest.mark.parametrize("deps", ["fetch", 42, [42], [""], [None]])
def test_bad_dependencies_are_rejected(deps: Any) -> None:
    with pytest.raises(TypeError):
        task(id="t", dependencies=deps)(_body)


def test_self_dependency_is_rejected() -> None:
    with pytest.raises(ValueError, match="itself"):
        task(id="loop", dependencies=["loop"])(_body)


# =========================================================================== handle parameter


def test_handle_parameter_detection() -> None:
    def with_handle(context: Context, handle: Any) -> Context:
        return context

    def with_task_handle(context: Context, task_handle: Any) -> Context:
        return context

    def other_name(context: Context, h: Any = None) -> Context:
        return context

    def similar_name(context: Context, my_handle: Any = None) -> Context:
        return context

    def third_position(context: Context, extra: Any = None, handle: Any = None) -> Context:
        return context

    def first_position(handle: Any) -> Any:
        return handle

    def only_context(context: Context) -> Context:
        return context

    assert task(id="a")(with_handle).handle_parameter == "handle"
    assert task(id="b")(with_task_handle).handle_parameter == "task_handle"
    assert task(id="c")(other_name).handle_parameter is None
    assert task(id="d")(similar_name).handle_parameter is None
    assert task(id="e")(third_position).handle_parameter is None
    assert task(id="f")(first_position).handle_parameter is None
    assert task(id="g")(only_context).handle_parameter is None


def test_async_handle_parameter_detection() -> None:
    async def waits(context: Context, handle: Any) -> Context:
        return context

    definition = task(id="w")(waits)
    assert definition.handle_parameter == "handle"
    assert definition.is_async is True


def test_handle_is_injected_only_for_the_right_names(runner: DefaultRunner) -> None:
    received: dict[str, Any] = {}

    with WorkflowBuilder("injection"):

        @task(id="named_handle")
        def named_handle(context: Context, handle: Any) -> Context:
            received["handle"] = handle
            return context

        @task(id="named_task_handle")
        def named_task_handle(context: Context, task_handle: Any) -> Context:
            received["task_handle"] = task_handle
            return context

        @task(id="other_name")
        def other_name(context: Context, helper: Any = "untouched") -> Context:
            received["helper"] = helper
            return context

        @task(id="async_handle")
        async def async_handle(context: Context, handle: Any) -> Context:
            received["async"] = handle
            return context

    result = runner.execute("injection", Context())

    assert result.status == "Completed", {k: v.error for k, v in result.task_results.items()}
    assert isinstance(received["handle"], cloaca.TaskHandle)
    assert isinstance(received["task_handle"], cloaca.TaskHandle)
    assert isinstance(received["async"], cloaca.TaskHandle)
    assert received["helper"] == "untouched"


# =========================================================================== wrapping


def test_bare_decorator() -> None:
    @task
    def bare_task(ctx: Context) -> Context:
        """A bare task."""
        ctx.set("bare", True)
        return ctx

    assert isinstance(bare_task, TaskDefinition)
    assert bare_task.task_id == "bare_task"
    assert bare_task.id == "bare_task"
    assert bare_task.dependencies == ()
    assert lookup_task("bare_task") is bare_task
    assert bare_task(Context()).get("bare") is True


def test_bare_decorator_inside_a_builder(runner: DefaultRunner) -> None:
    with WorkflowBuilder("bare_in_builder"):

        @task
        def first(ctx: Context) -> Context:
            ctx.set("first", 1)
            return ctx

        @task(dependencies=[first])
        def second(ctx: Context) -> Context:
            ctx.set("second", ctx.get("first") + 1)
            return ctx

    result = runner.execute("bare_in_builder", Context())
    assert result.final_context.get("second") == 2


def test_decorated_task_keeps_its_identity_and_stays_callable() -> None:
    def original(ctx: Context, factor: int = 2) -> Context:
        """Multiply n by factor."""
        ctx.set("n", ctx.get("n") * factor)
        return ctx

    decorated = task(id="multiply")(original)

    assert decorated.__name__ == "original"
    assert decorated.__doc__ == "Multiply n by factor."
    assert decorated.__qualname__ == original.__qualname__
    assert decorated.__module__ == original.__module__
    assert decorated.__wrapped__ is original  # type: ignore[attr-defined]
    assert decorated.fn is original
    assert callable(decorated)
    assert inspect.signature(decorated) == inspect.signature(original)
    assert decorated(Context({"n": 3})).get("n") == 6
    assert decorated(Context({"n": 3}), factor=5).get("n") == 15
    assert repr(decorated) == "<task 'multiply'>"


def test_async_task_called_directly_returns_a_coroutine() -> None:
    @task(id="async_direct")
    async def async_direct(ctx: Context) -> Context:
        await asyncio.sleep(0)
        ctx.set("awaited", True)
        return ctx

    assert async_direct.is_async is True
    assert inspect.iscoroutinefunction(async_direct.fn)
    assert asyncio.run(async_direct(Context())).get("awaited") is True


def test_redecorating_a_task_uses_the_original_function() -> None:
    first = task(id="inner")(_body)
    second = task(id="outer", priority=3)(first)
    assert second.fn is _body
    assert second.task_id == "outer"
    assert second.priority == 3
    assert lookup_task("outer") is second
