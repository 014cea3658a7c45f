"""Tests for taskloom.retry.

Delays are compared with pytest.approx because they are float products; jitter is
checked with seeded generators over many samples so a bound that is off by a
little (e.g. U(0.5, 1.5) instead of U(0.75, 1.25)) fails reliably.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from taskloom.errors import TaskloomError, TaskTimeoutError
from taskloom.retry import (
    BackoffStrategy,
    Jitter,
    RetryCondition,
    RetryPolicy,
    RetryPolicyBuilder,
)

SAMPLES = 2000


def delays(policy: RetryPolicy, attempts: int) -> list[float]:
    return [policy.calculate_delay(n) for n in range(1, attempts + 1)]


# --------------------------------------------------------------------------- backoff


class TestBackoffStrategy:
    def test_fixed_sequence(self) -> None:
        strategy = BackoffStrategy.fixed()
        assert [strategy.delay(2.0, n) for n in range(1, 6)] == [2.0] * 5
        assert strategy.kind == "fixed"

    def test_linear_sequence(self) -> None:
        strategy = BackoffStrategy.linear()
        assert [strategy.delay(1.5, n) for n in range(1, 5)] == pytest.approx([1.5, 3.0, 4.5, 6.0])

    def test_linear_multiplier(self) -> None:
        strategy = BackoffStrategy.linear(multiplier=2.0)
        assert [strategy.delay(1.0, n) for n in range(1, 4)] == pytest.approx([2.0, 4.0, 6.0])

    def test_exponential_sequence(self) -> None:
        strategy = BackoffStrategy.exponential()
        assert [strategy.delay(1.0, n) for n in range(1, 6)] == pytest.approx(
            [1.0, 2.0, 4.0, 8.0, 16.0]
        )

    def test_exponential_base_and_multiplier(self) -> None:
        strategy = BackoffStrategy.exponential(base=3.0, multiplier=0.5)
        assert [strategy.delay(2.0, n) for n in range(1, 4)] == pytest.approx([1.0, 3.0, 9.0])

    def test_no_cap_in_strategy(self) -> None:
        assert BackoffStrategy.exponential().delay(1.0, 30) == pytest.approx(2.0**29)

    def test_overflow_becomes_infinity(self) -> None:
        assert BackoffStrategy.exponential(base=10.0).delay(1.0, 10_000) == math.inf

    def test_zero_initial_is_zero_even_on_overflow(self) -> None:
        assert BackoffStrategy.exponential(base=10.0).delay(0.0, 10_000) == 0.0

    @pytest.mark.parametrize("attempt", [0, -1])
    def test_attempt_is_one_based(self, attempt: int) -> None:
        with pytest.raises(ValueError, match="attempt must be >= 1"):
            BackoffStrategy.fixed().delay(1.0, attempt)

    @pytest.mark.parametrize(
        ("factory", "message"),
        [
            (lambda: BackoffStrategy.linear(multiplier=0), "multiplier must be > 0"),
            (lambda: BackoffStrategy.exponential(base=-2), "base must be > 0"),
            (lambda: BackoffStrategy.exponential(multiplier=math.nan), "finite"),
        ],
    )
    def test_validation(self, factory: Callable[[], BackoffStrategy], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            factory()

    def test_unknown_kind(self) -> None:
        with pytest.raises(ValueError, match="'fixed', 'linear', 'exponential'"):
            BackoffStrategy("quadratic")  # type: ignore[arg-type]

    def test_irrelevant_parameters_are_normalized(self) -> None:
        assert BackoffStrategy("fixed", base=5.0, multiplier=3.0) == BackoffStrategy.fixed()
        assert BackoffStrategy("linear", base=5.0) == BackoffStrategy.linear()

    def test_to_dict(self) -> None:
        assert BackoffStrategy.fixed().to_dict() == {"kind": "fixed"}
        assert BackoffStrategy.linear(2).to_dict() == {"kind": "linear", "multiplier": 2.0}
        assert BackoffStrategy.exponential(3, 2).to_dict() == {
            "kind": "exponential",
            "base": 3.0,
            "multiplier": 2.0,
        }

    def test_is_frozen_and_hashable(self) -> None:
        strategy = BackoffStrategy.exponential()
        with pytest.raises(AttributeError):
            strategy.base = 3.0  # type: ignore[misc]
        assert hash(strategy) == hash(BackoffStrategy.exponential(2, 1))


# --------------------------------------------------------------------------- condition


class TestRetryCondition:
    def test_all_and_never(self) -> None:
        assert RetryCondition.all_errors().matches(ValueError("x"))
        assert not RetryCondition.never().matches(ConnectionError("x"))

    @pytest.mark.parametrize(
        "error",
        [
            TimeoutError(),
            ConnectionError(),
            ConnectionRefusedError(),
            ConnectionResetError(),
            TaskTimeoutError("task 'a' timed out"),
        ],
    )
    def test_transient_instances(self, error: Exception) -> None:
        assert RetryCondition.transient_only().matches(error)

    @pytest.mark.parametrize(
        "message",
        [
            "read TIMEOUT after 5s",
            "Connection reset by peer",
            "network is unreachable",
            "temporary failure in name resolution",
            "service Unavailable",
        ],
    )
    def test_transient_message_text(self, message: str) -> None:
        assert RetryCondition.transient_only().matches(RuntimeError(message))

    def test_transient_type_name_text(self) -> None:
        class UpstreamUnavailable(Exception):
            pass

        assert RetryCondition.transient_only().matches(UpstreamUnavailable("503"))

    @pytest.mark.parametrize(
        "error",
        [ValueError("bad input"), KeyError("id"), TaskloomError("boom"), OSError("disk full")],
    )
    def test_not_transient(self, error: Exception) -> None:
        assert not RetryCondition.transient_only().matches(error)

    def test_error_pattern_case_insensitive_on_type_and_message(self) -> None:
        condition = RetryCondition.error_pattern(["rate limit", "valueerror"])
        assert condition.matches(RuntimeError("Rate Limit exceeded"))
        assert condition.matches(ValueError("anything"))
        assert not condition.matches(RuntimeError("quota exceeded"))
        assert RetryCondition.error_pattern(["QUOTA"]).matches(RuntimeError("quota exceeded"))

    def test_error_pattern_empty_matches_nothing(self) -> None:
        assert not RetryCondition.error_pattern([]).matches(RuntimeError("x"))

    def test_error_pattern_refuses_bare_string(self) -> None:
        with pytest.raises(TypeError, match="single string"):
            RetryCondition.error_pattern("timeout")

    def test_error_pattern_refuses_non_strings(self) -> None:
        with pytest.raises(TypeError, match="only strings"):
            RetryCondition.error_pattern(["ok", 3])  # type: ignore[list-item]

    def test_error_names_exact_and_base_classes(self) -> None:
        condition = RetryCondition.error_names(retryable=["ConnectionError"])
        assert condition.matches(ConnectionError())
        assert condition.matches(ConnectionRefusedError())
        assert not condition.matches(TimeoutError())
        assert not condition.matches(ValueError())

    def test_error_names_user_class_hierarchy(self) -> None:
        class PaymentError(Exception):
            pass

        class CardDeclined(PaymentError):
            pass

        assert RetryCondition.error_names(["PaymentError"]).matches(CardDeclined())
        assert not RetryCondition.error_names(["CardDeclined"]).matches(PaymentError())

    def test_error_names_non_retryable_wins(self) -> None:
        condition = RetryCondition.error_names(
            retryable=["OSError"], non_retryable=["ConnectionRefusedError"]
        )
        assert condition.matches(ConnectionResetError())
        assert not condition.matches(ConnectionRefusedError())

    def test_error_names_non_retryable_base_class(self) -> None:
        condition = RetryCondition.error_names(non_retryable=["LookupError"])
        assert not condition.matches(KeyError("k"))
        assert condition.matches(ValueError())

    def test_error_names_no_lists_retries_everything(self) -> None:
        assert RetryCondition.error_names().matches(ValueError())
        assert RetryCondition.error_names([], []).matches(ValueError())
        assert RetryCondition.error_names([]) == RetryCondition.error_names(None)

    @pytest.mark.parametrize(
        "condition",
        [
            RetryCondition.all_errors(),
            RetryCondition.transient_only(),
            RetryCondition.error_pattern(["cancel", "interrupt", "exit"]),
            RetryCondition.error_names(["BaseException", "CancelledError"]),
        ],
    )
    @pytest.mark.parametrize(
        "error", [asyncio.CancelledError(), KeyboardInterrupt(), SystemExit(1)]
    )
    def test_never_retries_control_flow(
        self, condition: RetryCondition, error: BaseException
    ) -> None:
        assert not condition.matches(error)

    def test_to_dict(self) -> None:
        assert RetryCondition.all_errors().to_dict() == {"kind": "all"}
        assert RetryCondition.never().to_dict() == {"kind": "never"}
        assert RetryCondition.transient_only().to_dict() == {"kind": "transient"}
        assert RetryCondition.error_pattern(("a", "b")).to_dict() == {
            "kind": "error_pattern",
            "patterns": ["a", "b"],
        }
        assert RetryCondition.error_names(["X"], ["Y"]).to_dict() == {
            "kind": "error_names",
            "retryable": ["X"],
            "non_retryable": ["Y"],
        }
        assert RetryCondition.error_names().to_dict() == {
            "kind": "error_names",
            "retryable": None,
            "non_retryable": [],
        }

    def test_hashable_with_list_input(self) -> None:
        condition = RetryCondition.error_pattern(["a"])
        assert hash(condition) == hash(RetryCondition.error_pattern(("a",)))


# --------------------------------------------------------------------------- jitter


def samples(jitter: Jitter, delay: float, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [jitter.apply(delay, rng) for _ in range(SAMPLES)]


class TestJitter:
    def test_none_is_identity(self) -> None:
        assert Jitter.none().apply(3.5) == 3.5

    def test_multiplicative_bounds(self) -> None:
        values = samples(Jitter.multiplicative(), 10.0)
        assert all(7.5 <= v <= 12.5 for v in values)
        # Spread covers most of the interval on both sides of the delay.
        assert min(values) < 7.7
        assert max(values) > 12.3
        assert sum(values) / len(values) == pytest.approx(10.0, abs=0.15)

    def test_multiplicative_custom_bounds(self) -> None:
        values = samples(Jitter.multiplicative(0.5, 1.0), 4.0)
        assert all(2.0 <= v <= 4.0 for v in values)
        assert min(values) < 2.1

    def test_fraction_bounds(self) -> None:
        values = samples(Jitter.fraction(0.2), 10.0)
        assert all(10.0 <= v <= 12.0 for v in values)
        assert min(values) < 10.05
        assert max(values) > 11.95

    def test_additive_bounds_independent_of_delay(self) -> None:
        for delay in (0.0, 1.0, 100.0):
            values = samples(Jitter.additive(0.5), delay)
            assert all(delay <= v <= delay + 0.5 for v in values)
            assert max(values) > delay + 0.49

    def test_seeded_rng_is_reproducible(self) -> None:
        jitter = Jitter.multiplicative()
        assert samples(jitter, 1.0, seed=3) == samples(jitter, 1.0, seed=3)
        assert samples(jitter, 1.0, seed=3) != samples(jitter, 1.0, seed=4)

    def test_default_rng_is_used_without_argument(self) -> None:
        value = Jitter.multiplicative().apply(10.0)
        assert 7.5 <= value <= 12.5

    def test_never_negative(self) -> None:
        assert Jitter.multiplicative().apply(-5.0) == 0.0
        assert Jitter.additive(1.0).apply(-5.0, random.Random(1)) >= 0.0

    def test_infinite_delay_unchanged(self) -> None:
        assert Jitter.fraction(0.5).apply(math.inf, random.Random(1)) == math.inf

    @pytest.mark.parametrize("fraction", [-0.1, 1.01, math.nan])
    def test_fraction_range(self, fraction: float) -> None:
        with pytest.raises(ValueError, match="between 0 and 1"):
            Jitter.fraction(fraction)

    def test_fraction_edges_allowed(self) -> None:
        assert Jitter.fraction(0).high == 0.0
        assert Jitter.fraction(1).high == 1.0

    def test_additive_must_be_non_negative(self) -> None:
        with pytest.raises(ValueError, match=">= 0"):
            Jitter.additive(-1)

    def test_multiplicative_low_above_high(self) -> None:
        with pytest.raises(ValueError, match="low must be <= high"):
            Jitter.multiplicative(1.5, 1.0)

    def test_to_dict(self) -> None:
        assert Jitter.none().to_dict() == {"kind": "none"}
        assert Jitter.multiplicative().to_dict() == {
            "kind": "multiplicative",
            "low": 0.75,
            "high": 1.25,
        }
        assert Jitter.fraction(0.1).to_dict() == {"kind": "fraction", "fraction": 0.1}
        assert Jitter.additive(2).to_dict() == {"kind": "additive", "seconds": 2.0}


# --------------------------------------------------------------------------- grctl form


class TestGrctlConstructor:
    def test_defaults(self) -> None:
        policy = RetryPolicy()
        assert policy.max_attempts == 1
        assert policy.initial_delay == pytest.approx(0.1)
        assert policy.max_delay == pytest.approx(5.0)
        assert policy.initial_delay_ms == 100
        assert policy.max_delay_ms == 5000
        assert policy.backoff_multiplier == 2.0
        assert policy.backoff == BackoffStrategy.exponential(base=2.0)
        assert policy.jitter == Jitter.none()
        assert policy.condition == RetryCondition.error_names()

    def test_none_means_default(self) -> None:
        assert (
            RetryPolicy(
                max_attempts=None,
                initial_delay_ms=None,
                backoff_multiplier=None,
                max_delay_ms=None,
                jitter=None,
            )
            == RetryPolicy()
        )

    def test_exponential_sequence_with_cap(self) -> None:
        policy = RetryPolicy(
            max_attempts=10, initial_delay_ms=100, backoff_multiplier=3, max_delay_ms=2000
        )
        assert delays(policy, 5) == pytest.approx([0.1, 0.3, 0.9, 2.0, 2.0])

    def test_ms_views_round_trip(self) -> None:
        policy = RetryPolicy(initial_delay_ms=1001, max_delay_ms=1003)
        assert policy.initial_delay_ms == 1001
        assert policy.max_delay_ms == 1003

    def test_jitter_fraction(self) -> None:
        policy = RetryPolicy(max_attempts=3, initial_delay_ms=1000, jitter=0.5)
        assert policy.jitter == Jitter.fraction(0.5)
        rng = random.Random(11)
        values = [policy.calculate_delay(1, rng) for _ in range(SAMPLES)]
        assert all(1.0 <= v <= 1.5 for v in values)

    def test_error_lists(self) -> None:
        policy = RetryPolicy(
            max_attempts=3,
            retryable_errors=["ConnectionError"],
            non_retryable_errors=["ConnectionRefusedError"],
        )
        assert policy.should_retry(1, ConnectionResetError())
        assert not policy.should_retry(1, ConnectionRefusedError())
        assert not policy.should_retry(1, ValueError())

    def test_zero_attempts_is_one(self) -> None:
        assert RetryPolicy(max_attempts=0).max_attempts == 1

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_attempts": -1}, "max_attempts must be >= 0"),
            ({"initial_delay_ms": -5}, "initial_delay_ms must be >= 0"),
            ({"max_delay_ms": -1}, "max_delay_ms must be >= 0"),
            ({"backoff_multiplier": 0}, "backoff_multiplier must be > 0"),
            ({"backoff_multiplier": -2.0}, "backoff_multiplier must be > 0"),
            ({"jitter": 1.5}, "jitter must be between 0 and 1"),
            ({"jitter": -0.1}, "jitter must be between 0 and 1"),
            ({"initial_delay_ms": math.inf}, "initial_delay_ms must be a finite"),
        ],
    )
    def test_bad_values(self, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_attempts": "3"}, "max_attempts must be an int"),
            ({"max_attempts": 2.0}, "max_attempts must be an int"),
            ({"initial_delay_ms": "100"}, "initial_delay_ms must be a number"),
            ({"jitter": True}, "jitter must be a number"),
            ({"retryable_errors": "ValueError"}, "retryable must be a list"),
        ],
    )
    def test_bad_types(self, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(TypeError, match=message):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]

    def test_frozen(self) -> None:
        policy = RetryPolicy()
        with pytest.raises(AttributeError):
            policy.max_attempts = 5  # type: ignore[misc]


# --------------------------------------------------------------------------- policy


class TestPolicyBehaviour:
    def test_should_retry_counts_attempts(self) -> None:
        policy = RetryPolicy.from_cloaca_options(retry_attempts=3)
        assert [policy.should_retry(n, RuntimeError()) for n in (1, 2, 3, 4)] == [
            True,
            True,
            False,
            False,
        ]

    def test_should_retry_respects_condition(self) -> None:
        policy = RetryPolicy.from_cloaca_options(retry_attempts=5, retry_condition="never")
        assert not policy.should_retry(1, RuntimeError())

    def test_should_retry_never_on_cancellation(self) -> None:
        policy = RetryPolicy.from_cloaca_options(retry_attempts=5)
        assert not policy.should_retry(1, asyncio.CancelledError())
        assert not policy.should_retry(1, KeyboardInterrupt())

    def test_should_retry_rejects_attempt_zero(self) -> None:
        with pytest.raises(ValueError, match="attempt must be >= 1"):
            RetryPolicy().should_retry(0, RuntimeError())

    def test_single(self) -> None:
        policy = RetryPolicy.single()
        assert policy.max_attempts == 1
        assert not policy.should_retry(1, RuntimeError())
        assert policy.calculate_delay(1) == 0.0

    def test_cap_applies_before_multiplicative_jitter(self) -> None:
        policy = (
            RetryPolicy.builder()
            .max_attempts(20)
            .initial_delay(1)
            .max_delay(10)
            .with_jitter()
            .build()
        )
        rng = random.Random(5)
        values = [policy.calculate_delay(10, rng) for _ in range(SAMPLES)]
        # Uncapped delay is 512 s; the cap brings it to 10 s, jitter spreads around that.
        assert all(7.5 <= v <= 12.5 for v in values)
        assert min(values) < 8.0
        assert max(values) > 12.0

    def test_uncapped_policy(self) -> None:
        policy = RetryPolicy.builder().max_delay(None).with_jitter(False).build()
        assert policy.max_delay is None
        assert policy.max_delay_ms is None
        assert policy.calculate_delay(11) == pytest.approx(1024.0)

    def test_calculate_delay_rejects_attempt_zero(self) -> None:
        with pytest.raises(ValueError, match="attempt must be >= 1"):
            RetryPolicy().calculate_delay(0)

    def test_backoff_multiplier_view(self) -> None:
        fixed = RetryPolicy.builder().backoff_strategy(BackoffStrategy.fixed()).build()
        linear = RetryPolicy.builder().backoff_strategy(BackoffStrategy.linear()).build()
        assert fixed.backoff_multiplier == 1.0
        assert linear.backoff_multiplier is None

    def test_hashable_and_equal_by_value(self) -> None:
        a = RetryPolicy.from_cloaca_options()
        b = RetryPolicy.builder().build()
        assert a == b
        assert hash(a) == hash(b)
        assert len({a, b, RetryPolicy.single()}) == 2


# --------------------------------------------------------------------------- builder


class TestBuilder:
    def test_defaults_are_cloacas(self) -> None:
        policy = RetryPolicy.builder().build()
        assert policy.max_attempts == 3
        assert policy.initial_delay == 1.0
        assert policy.max_delay == 60.0
        assert policy.backoff == BackoffStrategy.exponential(2.0, 1.0)
        assert policy.condition == RetryCondition.all_errors()
        assert policy.jitter == Jitter.multiplicative(0.75, 1.25)

    def test_fluent_methods(self) -> None:
        builder = RetryPolicy.builder()
        assert isinstance(builder, RetryPolicyBuilder)
        same = (
            builder.max_attempts(5)
            .initial_delay(timedelta(milliseconds=500))
            .max_delay(timedelta(seconds=30))
            .backoff_strategy(BackoffStrategy.linear())
            .retry_condition(RetryCondition.transient_only())
            .with_jitter(False)
        )
        assert same is builder
        policy = builder.build()
        assert policy.max_attempts == 5
        assert policy.initial_delay == 0.5
        assert policy.max_delay == 30.0
        assert policy.backoff == BackoffStrategy.linear()
        assert policy.condition == RetryCondition.transient_only()
        assert policy.jitter == Jitter.none()
        assert delays(policy, 3) == pytest.approx([0.5, 1.0, 1.5])

    def test_seconds_as_numbers(self) -> None:
        policy = RetryPolicy.builder().initial_delay(2).max_delay(7.5).build()
        assert (policy.initial_delay, policy.max_delay) == (2.0, 7.5)

    def test_builder_reusable(self) -> None:
        builder = RetryPolicy.builder()
        first = builder.build()
        second = builder.max_attempts(9).build()
        assert first.max_attempts == 3
        assert second.max_attempts == 9

    def test_zero_attempts_is_one(self) -> None:
        assert RetryPolicy.builder().max_attempts(0).build().max_attempts == 1

    def test_validation(self) -> None:
        builder = RetryPolicy.builder()
        with pytest.raises(ValueError, match="max_attempts must be >= 0"):
            builder.max_attempts(-1)
        with pytest.raises(ValueError, match="initial_delay must be >= 0"):
            builder.initial_delay(timedelta(seconds=-1))
        with pytest.raises(TypeError, match="max_delay must be a number"):
            builder.max_delay("10s")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="BackoffStrategy"):
            builder.backoff_strategy("linear")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="RetryCondition"):
            builder.retry_condition("all")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="True or False"):
            builder.with_jitter(1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- cloaca options


class TestCloacaOptions:
    def test_defaults(self) -> None:
        policy = RetryPolicy.from_cloaca_options()
        assert policy.max_attempts == 3
        assert policy.backoff == BackoffStrategy.exponential()
        assert policy.initial_delay == 1.0
        assert policy.max_delay == 60.0
        assert policy.condition == RetryCondition.all_errors()
        assert policy.jitter == Jitter.multiplicative()

    @pytest.mark.parametrize("attempts", [0, 1])
    def test_zero_and_one_attempts_are_single(self, attempts: int) -> None:
        policy = RetryPolicy.from_cloaca_options(retry_attempts=attempts)
        assert policy.max_attempts == 1
        assert not policy.should_retry(1, RuntimeError())

    @pytest.mark.parametrize(
        ("backoff", "expected"),
        [
            ("fixed", [0.5, 0.5, 0.5, 0.5]),
            ("linear", [0.5, 1.0, 1.5, 2.0]),
            ("exponential", [0.5, 1.0, 2.0, 4.0]),
        ],
    )
    def test_backoff_sequences(self, backoff: str, expected: list[float]) -> None:
        policy = RetryPolicy.from_cloaca_options(
            retry_attempts=10, retry_backoff=backoff, retry_delay_ms=500, retry_jitter=False
        )
        assert delays(policy, 4) == pytest.approx(expected)

    def test_max_delay_caps(self) -> None:
        policy = RetryPolicy.from_cloaca_options(
            retry_attempts=10, retry_delay_ms=1000, retry_max_delay_ms=3000, retry_jitter=False
        )
        assert delays(policy, 5) == pytest.approx([1.0, 2.0, 3.0, 3.0, 3.0])

    def test_transient_condition(self) -> None:
        policy = RetryPolicy.from_cloaca_options(retry_condition="transient")
        assert policy.should_retry(1, TaskTimeoutError("slow"))
        assert not policy.should_retry(1, ValueError("bad"))

    def test_unknown_backoff_lists_valid(self) -> None:
        with pytest.raises(ValueError) as info:
            RetryPolicy.from_cloaca_options(retry_backoff="expo")
        assert str(info.value) == (
            "retry_backoff='expo' is not valid; use one of 'fixed', 'linear', 'exponential'"
        )

    def test_unknown_condition_lists_valid(self) -> None:
        with pytest.raises(ValueError) as info:
            RetryPolicy.from_cloaca_options(retry_condition="sometimes")
        assert str(info.value) == (
            "retry_condition='sometimes' is not valid; use one of 'never', 'transient', 'all'"
        )

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"retry_attempts": "3"}, TypeError, "retry_attempts must be an int"),
            ({"retry_attempts": 2.5}, TypeError, "retry_attempts must be an int"),
            ({"retry_attempts": True}, TypeError, "retry_attempts must be an int"),
            ({"retry_attempts": -1}, ValueError, "retry_attempts must be >= 0"),
            ({"retry_backoff": 2}, TypeError, "retry_backoff must be a string"),
            ({"retry_backoff": "Linear"}, ValueError, "retry_backoff='Linear' is not valid"),
            ({"retry_delay_ms": -1}, ValueError, "retry_delay_ms must be >= 0"),
            ({"retry_delay_ms": "1000"}, TypeError, "retry_delay_ms must be a number"),
            ({"retry_delay_ms": math.nan}, ValueError, "retry_delay_ms must be a finite"),
            ({"retry_max_delay_ms": -0.5}, ValueError, "retry_max_delay_ms must be >= 0"),
            ({"retry_max_delay_ms": [1]}, TypeError, "retry_max_delay_ms must be a number"),
            ({"retry_condition": 0}, TypeError, "retry_condition must be a string"),
            ({"retry_jitter": "yes"}, TypeError, "retry_jitter must be True or False"),
            ({"retry_jitter": 1}, TypeError, "retry_jitter must be True or False"),
        ],
    )
    def test_bad_inputs(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            RetryPolicy.from_cloaca_options(**kwargs)  # type: ignore[arg-type]

    def test_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            RetryPolicy.from_cloaca_options(3)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- auto_workflow


class TestDataflowOptions:
    def test_defaults_are_single_attempt(self) -> None:
        policy = RetryPolicy.from_dataflow_options()
        assert policy.max_attempts == 1
        assert policy.jitter == Jitter.none()
        assert policy.calculate_delay(1) == 0.0

    def test_retries_are_extra_attempts(self) -> None:
        policy = RetryPolicy.from_dataflow_options(retries=2)
        assert policy.max_attempts == 3
        assert [policy.should_retry(n, ValueError()) for n in (1, 2, 3)] == [True, True, False]

    def test_backoff_sequence_uncapped(self) -> None:
        policy = RetryPolicy.from_dataflow_options(retries=20, retry_backoff=1.5)
        assert delays(policy, 3) == pytest.approx([1.5, 3.0, 6.0])
        assert policy.max_delay is None
        assert policy.calculate_delay(15) == pytest.approx(1.5 * 2**14)

    def test_additive_jitter(self) -> None:
        policy = RetryPolicy.from_dataflow_options(retries=3, retry_backoff=1.0, retry_jitter=0.3)
        assert policy.jitter == Jitter.additive(0.3)
        rng = random.Random(2)
        values = [policy.calculate_delay(2, rng) for _ in range(SAMPLES)]
        assert all(2.0 <= v <= 2.3 for v in values)
        assert max(values) > 2.29

    def test_retries_all_exceptions(self) -> None:
        policy = RetryPolicy.from_dataflow_options(retries=1)
        assert policy.condition == RetryCondition.all_errors()
        assert policy.should_retry(1, KeyError("x"))

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"retries": -1}, ValueError, "retries must be >= 0"),
            ({"retries": "2"}, TypeError, "retries must be an int"),
            ({"retries": 1.0}, TypeError, "retries must be an int"),
            ({"retry_backoff": -0.5}, ValueError, "retry_backoff must be >= 0"),
            ({"retry_backoff": "1"}, TypeError, "retry_backoff must be a number"),
            ({"retry_jitter": -1}, ValueError, "retry_jitter must be >= 0"),
            ({"retry_jitter": None}, TypeError, "retry_jitter must be a number"),
        ],
    )
    def test_bad_inputs(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        with pytest.raises(error, match=message):
            RetryPolicy.from_dataflow_options(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- to_dict


class TestToDict:
    def test_shape(self) -> None:
        assert RetryPolicy.from_cloaca_options().to_dict() == {
            "max_attempts": 3,
            "initial_delay": 1.0,
            "max_delay": 60.0,
            "backoff": {"kind": "exponential", "base": 2.0, "multiplier": 1.0},
            "condition": {"kind": "all"},
            "jitter": {"kind": "multiplicative", "low": 0.75, "high": 1.25},
        }

    def test_json_round_trip(self) -> None:
        for policy in (
            RetryPolicy(max_attempts=4, jitter=0.2, retryable_errors=["OSError"]),
            RetryPolicy.from_dataflow_options(retries=2, retry_backoff=1.5, retry_jitter=0.5),
            RetryPolicy.builder()
            .retry_condition(RetryCondition.error_pattern(["x"]))
            .max_delay(None)
            .build(),
            RetryPolicy.single(),
        ):
            data = policy.to_dict()
            assert json.loads(json.dumps(data)) == data

    def test_stable_key_order_and_text(self) -> None:
        one = json.dumps(RetryPolicy(max_attempts=3).to_dict())
        two = json.dumps(RetryPolicy(max_attempts=3).to_dict())
        assert one == two
        assert list(RetryPolicy().to_dict()) == [
            "max_attempts",
            "initial_delay",
            "max_delay",
            "backoff",
            "condition",
            "jitter",
        ]

    def test_ints_and_floats_serialize_the_same(self) -> None:
        as_ints = RetryPolicy.builder().initial_delay(2).max_delay(30).build()
        as_floats = RetryPolicy.builder().initial_delay(2.0).max_delay(30.0).build()
        assert json.dumps(as_ints.to_dict()) == json.dumps(as_floats.to_dict())

    def test_zero_attempts_normalized(self) -> None:
        assert RetryPolicy(max_attempts=0).to_dict() == RetryPolicy(max_attempts=1).to_dict()

    def test_different_policies_differ(self) -> None:
        base = RetryPolicy.from_cloaca_options()
        variants = [
            RetryPolicy.from_cloaca_options(retry_attempts=4),
            RetryPolicy.from_cloaca_options(retry_backoff="linear"),
            RetryPolicy.from_cloaca_options(retry_delay_ms=999),
            RetryPolicy.from_cloaca_options(retry_max_delay_ms=1),
            RetryPolicy.from_cloaca_options(retry_condition="transient"),
            RetryPolicy.from_cloaca_options(retry_jitter=False),
        ]
        dumped = {json.dumps(p.to_dict()) for p in [base, *variants]}
        assert len(dumped) == len(variants) + 1
