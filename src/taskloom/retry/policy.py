"""The one normalized :class:`RetryPolicy` every style's retry options become, and
Cloaca's :class:`RetryPolicyBuilder`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from taskloom.retry.backoff import BackoffStrategy, Jitter
from taskloom.retry.conditions import RetryCondition
from taskloom.retry.validation import (
    CLOACA_BACKOFFS,
    CLOACA_CONDITIONS,
    check_attempt,
    check_choice,
    check_count,
    check_fraction,
    check_number,
    check_seconds,
)


@dataclass(frozen=True, slots=True, init=False)
class RetryPolicy:
    """How many times a task is attempted and how long to wait between attempts.

    The keyword constructor is grctl's::

        RetryPolicy(max_attempts=3, initial_delay_ms=100, backoff_multiplier=2.0,
                    max_delay_ms=5000, jitter=0.1, retryable_errors=["ConnectionError"])

    which is exponential backoff with ``base=backoff_multiplier``, grctl's fractional
    jitter and a class-name condition. Passing ``None`` for any argument means its
    default. Cloaca users start from :meth:`builder` or :meth:`from_cloaca_options`,
    auto_workflow options go through :meth:`from_dataflow_options`.

    The normalized fields (``max_attempts``, ``initial_delay`` and ``max_delay`` in
    seconds, ``backoff``, ``condition``, ``jitter``) are what the engine reads.
    """

    max_attempts: int
    initial_delay: float
    max_delay: float | None
    backoff: BackoffStrategy
    condition: RetryCondition
    jitter: Jitter

    def __init__(
        self,
        max_attempts: int | None = 1,
        initial_delay_ms: int | float | None = 100,
        backoff_multiplier: float | None = 2.0,
        max_delay_ms: int | float | None = 5000,
        jitter: float | None = 0.0,
        retryable_errors: list[str] | None = None,
        non_retryable_errors: list[str] | None = None,
    ) -> None:
        attempts = check_count("max_attempts", 1 if max_attempts is None else max_attempts)
        initial_ms = check_number(
            "initial_delay_ms", 100 if initial_delay_ms is None else initial_delay_ms
        )
        multiplier = check_number(
            "backoff_multiplier",
            2.0 if backoff_multiplier is None else backoff_multiplier,
            allow_zero=False,
        )
        max_ms = check_number("max_delay_ms", 5000 if max_delay_ms is None else max_delay_ms)
        fraction = check_fraction("jitter", 0.0 if jitter is None else jitter)
        self._init(
            max_attempts=attempts,
            initial_delay=initial_ms / 1000.0,
            max_delay=max_ms / 1000.0,
            backoff=BackoffStrategy.exponential(base=multiplier),
            condition=RetryCondition.error_names(retryable_errors, non_retryable_errors),
            # A zero fraction is stored as no jitter so RetryPolicy() equals a policy
            # built any other way without jitter, and serializes the same.
            jitter=Jitter.fraction(fraction) if fraction > 0.0 else Jitter.none(),
        )

    def _init(
        self,
        *,
        max_attempts: int,
        initial_delay: float,
        max_delay: float | None,
        backoff: BackoffStrategy,
        condition: RetryCondition,
        jitter: Jitter,
    ) -> None:
        # Frozen dataclass: fields can only be set through object.__setattr__.
        # max_attempts=0 is read as "one attempt": a task always runs at least once.
        object.__setattr__(self, "max_attempts", max(1, max_attempts))
        object.__setattr__(self, "initial_delay", float(initial_delay))
        object.__setattr__(self, "max_delay", None if max_delay is None else float(max_delay))
        object.__setattr__(self, "backoff", backoff)
        object.__setattr__(self, "condition", condition)
        object.__setattr__(self, "jitter", jitter)

    @classmethod
    def _make(
        cls,
        *,
        max_attempts: int,
        initial_delay: float,
        max_delay: float | None,
        backoff: BackoffStrategy,
        condition: RetryCondition,
        jitter: Jitter,
    ) -> RetryPolicy:
        """Build from normalized fields, bypassing the grctl keyword constructor."""
        policy = object.__new__(cls)
        policy._init(
            max_attempts=check_count("max_attempts", max_attempts),
            initial_delay=check_number("initial_delay", initial_delay),
            max_delay=None if max_delay is None else check_number("max_delay", max_delay),
            backoff=backoff,
            condition=condition,
            jitter=jitter,
        )
        return policy

    # ----------------------------------------------------------------- Cloaca's views

    @property
    def with_jitter(self) -> bool:
        """Whether delays are randomized (Cloaca's ``with_jitter``)."""
        return self.jitter.kind != "none"

    @property
    def backoff_strategy(self) -> BackoffStrategy:
        """How the delay grows (Cloaca's name for :attr:`backoff`)."""
        return self.backoff

    @property
    def retry_condition(self) -> RetryCondition:
        """Which errors are retried (Cloaca's name for :attr:`condition`)."""
        return self.condition

    def __repr__(self) -> str:
        cap = "None" if self.max_delay is None else f"{self.max_delay:g}s"
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, "
            f"initial_delay={self.initial_delay:g}s, max_delay={cap}, "
            f"jitter={self.with_jitter}, backoff_strategy={self.backoff!r}, "
            f"retry_condition={self.condition!r})"
        )

    # ----------------------------------------------------------------- constructors

    @classmethod
    def default(cls) -> RetryPolicy:
        """Cloaca's ``RetryPolicy.default()``: 3 attempts, exponential from 1 s to 60 s, jitter."""
        return RetryPolicyBuilder().build()

    @classmethod
    def builder(cls) -> RetryPolicyBuilder:
        """Cloaca's fluent builder, starting from Cloaca's defaults."""
        return RetryPolicyBuilder()

    @classmethod
    def single(cls) -> RetryPolicy:
        """One attempt and no retry: the policy of a task that declares none."""
        return cls._make(
            max_attempts=1,
            initial_delay=0.0,
            max_delay=None,
            backoff=BackoffStrategy.fixed(),
            condition=RetryCondition.never(),
            jitter=Jitter.none(),
        )

    @classmethod
    def from_cloaca_options(
        cls,
        *,
        retry_attempts: int | None = None,
        retry_backoff: str | None = None,
        retry_delay_ms: int | float | None = None,
        retry_max_delay_ms: int | float | None = None,
        retry_condition: str | None = None,
        retry_jitter: bool | None = None,
    ) -> RetryPolicy:
        """Translate Cloaca's ``@task(retry_*=...)`` options.

        Unspecified options take Cloaca's defaults: 3 attempts, ``"exponential"``,
        1000 ms, 60000 ms, ``"all"``, jitter on. ``retry_attempts`` counts *all*
        attempts, so 0 and 1 both mean the task runs once. ``"exponential"`` doubles
        (delay x 2^(n-1)); ``"linear"`` is delay x n.
        """
        attempts = check_count("retry_attempts", 3 if retry_attempts is None else retry_attempts)
        backoff_name = check_choice(
            "retry_backoff",
            "exponential" if retry_backoff is None else retry_backoff,
            CLOACA_BACKOFFS,
        )
        delay_ms = check_number(
            "retry_delay_ms", 1000 if retry_delay_ms is None else retry_delay_ms
        )
        max_ms = check_number(
            "retry_max_delay_ms", 60000 if retry_max_delay_ms is None else retry_max_delay_ms
        )
        condition_name = check_choice(
            "retry_condition",
            "all" if retry_condition is None else retry_condition,
            CLOACA_CONDITIONS,
        )
        jitter_on = True if retry_jitter is None else retry_jitter
        if not isinstance(jitter_on, bool):
            raise TypeError(
                f"retry_jitter must be True or False, got {type(jitter_on).__name__} {jitter_on!r}"
            )
        backoff = {
            "fixed": BackoffStrategy.fixed(),
            "linear": BackoffStrategy.linear(),
            "exponential": BackoffStrategy.exponential(),
        }[backoff_name]
        condition = {
            "never": RetryCondition.never(),
            "transient": RetryCondition.transient_only(),
            "all": RetryCondition.all_errors(),
        }[condition_name]
        return cls._make(
            max_attempts=attempts,
            initial_delay=delay_ms / 1000.0,
            max_delay=max_ms / 1000.0,
            backoff=backoff,
            condition=condition,
            jitter=Jitter.multiplicative() if jitter_on else Jitter.none(),
        )

    @classmethod
    def from_dataflow_options(
        cls,
        *,
        retries: int = 0,
        retry_backoff: float = 0.0,
        retry_jitter: float = 0.0,
    ) -> RetryPolicy:
        """Translate auto_workflow's ``@task(retries=, retry_backoff=, retry_jitter=)``.

        ``retries`` counts *extra* attempts (so ``max_attempts = retries + 1``);
        ``retry_backoff`` is the first wait in seconds, doubled after each failure
        with no cap (1.5 -> 1.5 s, 3 s, 6 s); ``retry_jitter`` adds up to that many
        seconds. Every ``Exception`` is retried.
        """
        extra = check_count("retries", retries)
        base_seconds = check_number("retry_backoff", retry_backoff)
        jitter_seconds = check_number("retry_jitter", retry_jitter)
        return cls._make(
            max_attempts=extra + 1,
            initial_delay=base_seconds,
            max_delay=None,
            backoff=BackoffStrategy.exponential(base=2.0),
            condition=RetryCondition.all_errors(),
            jitter=Jitter.additive(jitter_seconds) if jitter_seconds > 0 else Jitter.none(),
        )

    # ----------------------------------------------------------------- grctl views

    @property
    def initial_delay_ms(self) -> float:
        """``initial_delay`` in milliseconds (rounded to undo float noise from /1000)."""
        return round(self.initial_delay * 1000.0, 9)

    @property
    def max_delay_ms(self) -> float | None:
        """``max_delay`` in milliseconds, ``None`` when delays are uncapped."""
        return None if self.max_delay is None else round(self.max_delay * 1000.0, 9)

    @property
    def backoff_multiplier(self) -> float | None:
        """Ratio between consecutive uncapped delays, as grctl defines it.

        Exponential backoff gives its ``base`` and fixed gives 1.0; linear backoff
        has no constant ratio, so it gives ``None``.
        """
        if self.backoff.kind == "exponential":
            return self.backoff.base
        if self.backoff.kind == "fixed":
            return 1.0
        return None

    # ----------------------------------------------------------------- decisions

    def calculate_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next.

        Order: backoff delay, then capped at ``max_delay``, then jitter. Jitter is
        applied *after* the cap, as Cloaca and grctl do, so tasks that have all
        reached the cap still spread out instead of firing at the same instant. The
        price is that the wait can exceed ``max_delay`` by the jitter's reach: up to
        ``high`` x cap for multiplicative (1.25 x by default), ``(1 + fraction)`` x
        cap for fraction, cap + ``seconds`` for additive. The result is never
        negative. Pass a seeded ``rng`` to make the jitter reproducible.
        """
        delay = self.backoff.delay(self.initial_delay, check_attempt(attempt))
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        return max(0.0, self.jitter.apply(delay, rng))

    def should_retry(self, attempt: int, error: BaseException | str) -> bool:
        """True iff failed attempt ``attempt`` leaves attempts and ``error`` qualifies.

        ``error`` is the exception, or (Cloaca's form) its type name or text.
        """
        return check_attempt(attempt) < self.max_attempts and self.condition.matches(error)

    def to_dict(self) -> dict[str, object]:
        """JSON-able, key-stable description that feeds a workflow's version hash.

        Only normalized values appear (seconds as floats, ordered keys), so two
        policies that behave the same serialize the same whichever style built them.
        """
        return {
            "max_attempts": self.max_attempts,
            "initial_delay": self.initial_delay,
            "max_delay": self.max_delay,
            "backoff": self.backoff.to_dict(),
            "condition": self.condition.to_dict(),
            "jitter": self.jitter.to_dict(),
        }


# --------------------------------------------------------------------------- builder


class RetryPolicyBuilder:
    """Cloaca's fluent builder for :class:`RetryPolicy`.

    Mutable on purpose (each method returns the same builder), while the policy
    it builds is frozen. Each setter validates its argument immediately so a bad
    value is reported at the line that passed it. Defaults are Cloaca's: 3
    attempts, 1 s initial delay, 60 s cap, exponential(2, 1), all errors, jitter on.
    """

    __slots__ = (
        "_backoff",
        "_condition",
        "_initial_delay",
        "_jitter",
        "_max_attempts",
        "_max_delay",
    )

    def __init__(self) -> None:
        self._max_attempts = 3
        self._initial_delay = 1.0
        self._max_delay: float | None = 60.0
        self._backoff = BackoffStrategy.exponential(base=2.0, multiplier=1.0)
        self._condition = RetryCondition.all_errors()
        self._jitter = Jitter.multiplicative()

    def max_attempts(self, n: int) -> RetryPolicyBuilder:
        """Total attempts, first included; 0 is read as 1."""
        self._max_attempts = check_count("max_attempts", n)
        return self

    def initial_delay(self, value: timedelta | float) -> RetryPolicyBuilder:
        """Base delay, as a ``timedelta`` or a number of seconds."""
        self._initial_delay = check_seconds("initial_delay", value)
        return self

    def max_delay(self, value: timedelta | float | None) -> RetryPolicyBuilder:
        """Cap on the backoff delay (``timedelta`` or seconds); ``None`` removes it."""
        self._max_delay = None if value is None else check_seconds("max_delay", value)
        return self

    def backoff_strategy(self, strategy: BackoffStrategy) -> RetryPolicyBuilder:
        """How the delay grows between attempts."""
        if not isinstance(strategy, BackoffStrategy):
            raise TypeError(
                f"backoff_strategy takes a BackoffStrategy, got {type(strategy).__name__}"
            )
        self._backoff = strategy
        return self

    def retry_condition(self, condition: RetryCondition) -> RetryPolicyBuilder:
        """Which errors are retried."""
        if not isinstance(condition, RetryCondition):
            raise TypeError(
                f"retry_condition takes a RetryCondition, got {type(condition).__name__}"
            )
        self._condition = condition
        return self

    def with_jitter(self, enabled: bool = True) -> RetryPolicyBuilder:
        """Turn Cloaca's +/-25% multiplicative jitter on or off."""
        if not isinstance(enabled, bool):
            raise TypeError(f"with_jitter takes True or False, got {enabled!r}")
        self._jitter = Jitter.multiplicative() if enabled else Jitter.none()
        return self

    def build(self) -> RetryPolicy:
        """The frozen policy; the builder stays usable for further variants."""
        return RetryPolicy._make(
            max_attempts=self._max_attempts,
            initial_delay=self._initial_delay,
            max_delay=self._max_delay,
            backoff=self._backoff,
            condition=self._condition,
            jitter=self._jitter,
        )
