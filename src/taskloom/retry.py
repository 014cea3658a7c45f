"""Retry policies: when a failed task attempt is tried again, and after how long.

taskloom accepts three authoring styles that each describe retries differently:

* Cloaca's builder (``RetryPolicy.builder().max_attempts(5)...build()``) and its
  decorator options (``retry_attempts=``, ``retry_backoff="linear"``, ...);
* grctl's keyword form (``RetryPolicy(max_attempts=3, initial_delay_ms=200)``);
* auto_workflow's decorator options (``retries=``, ``retry_backoff=``, ``retry_jitter=``).

Rather than keep three policy types that the engine would have to branch on, every
style is translated into one normalized :class:`RetryPolicy` built from three small
values: a :class:`BackoffStrategy` (how the delay grows), a :class:`RetryCondition`
(which errors are worth another attempt) and a :class:`Jitter` (how the delay is
randomized). All four are frozen, slotted dataclasses, so a policy can be shared
between tasks, used as a dict key, and serialized with :meth:`RetryPolicy.to_dict`
into the stable form that feeds a workflow's version hash.

Conventions used throughout:

* ``attempt`` is the 1-based number of the attempt that just *failed*; the delay
  computed for it is the wait before attempt ``attempt + 1``.
* Durations are stored in seconds as ``float``; the grctl-facing ``*_ms`` views are
  derived from them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

__all__ = [
    "BackoffStrategy",
    "Jitter",
    "RetryCondition",
    "RetryPolicy",
    "RetryPolicyBuilder",
]

BackoffKind = Literal["fixed", "linear", "exponential"]
ConditionKind = Literal["all", "never", "transient", "error_pattern", "error_names"]
JitterKind = Literal["none", "multiplicative", "fraction", "additive"]

# Words that, found in "Type: message", mark an error as probably transient. They are
# matched lower-cased so "Connection reset" and "ConnectionResetError" both count.
_TRANSIENT_MARKERS: tuple[str, ...] = (
    "timeout",
    "connection",
    "network",
    "temporary",
    "unavailable",
)

_CLOACA_BACKOFFS: tuple[str, ...] = ("fixed", "linear", "exponential")
_CLOACA_CONDITIONS: tuple[str, ...] = ("never", "transient", "all")


# --------------------------------------------------------------------------- helpers


def _number(name: str, value: object, *, allow_zero: bool = True) -> float:
    """Return ``value`` as a finite, non-negative float or raise naming ``name``.

    ``bool`` is rejected although it is an ``int``: ``retry_delay_ms=True`` is always
    a mistake, and silently treating it as 1 would hide it.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    result = float(value)
    if math.isnan(result) or math.isinf(result):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if allow_zero and result < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if not allow_zero and result <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return result


def _count(name: str, value: object) -> int:
    """Return ``value`` as a non-negative ``int`` or raise naming ``name``.

    Strings such as ``"3"`` (typical of values read from config files) are refused
    rather than parsed, so the mistake surfaces where it was made.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def _attempt(value: object) -> int:
    """Validate an attempt number; 0 is refused because attempts are 1-based."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"attempt must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"attempt must be >= 1 (attempts are numbered from 1), got {value!r}")
    return value


def _seconds(name: str, value: object) -> float:
    """Accept a ``timedelta`` or a number of seconds, as Cloaca's builder does."""
    if isinstance(value, timedelta):
        return _number(name, value.total_seconds())
    return _number(name, value)


def _names(name: str, values: Sequence[str] | None) -> tuple[str, ...]:
    """Freeze a sequence of strings, refusing a bare ``str``.

    A ``str`` is itself a ``Sequence[str]``; accepting ``"timeout"`` would silently
    turn it into the patterns ``"t"``, ``"i"``, ... and retry almost everything.
    """
    if values is None:
        return ()
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list of strings, not a single string {values!r}")
    frozen = tuple(values)
    for item in frozen:
        if not isinstance(item, str):
            raise TypeError(f"{name} must contain only strings, got {type(item).__name__} {item!r}")
    return frozen


def _choice(name: str, value: object, valid: tuple[str, ...]) -> str:
    """Check that ``value`` is one of the ``valid`` strings, listing them if not."""
    options = ", ".join(repr(v) for v in valid)
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a string (one of {options}), got {type(value).__name__} {value!r}"
        )
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; use one of {options}")
    return value


def _fraction(name: str, value: object) -> float:
    """A number in [0, 1], with a message giving that whole range either way."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    result = float(value)
    if not 0.0 <= result <= 1.0:  # also false for nan
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return result


def _error_text(error: BaseException) -> str:
    """The text conditions search: ``"Type: message"``, so a match on either works."""
    return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------- backoff


@dataclass(frozen=True, slots=True)
class BackoffStrategy:
    """How the wait between attempts grows with the number of failures.

    A value rather than a function so that policies compare equal, hash, and
    serialize into a workflow's version. Build one with :meth:`fixed`,
    :meth:`linear` or :meth:`exponential`; ``base`` only matters for exponential
    and ``multiplier`` is ignored by fixed.
    """

    kind: BackoffKind
    base: float = 2.0
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in get_args(BackoffKind):
            options = ", ".join(repr(k) for k in get_args(BackoffKind))
            raise ValueError(f"backoff kind={self.kind!r} is not valid; use one of {options}")
        base = _number("base", self.base, allow_zero=False)
        multiplier = _number("multiplier", self.multiplier, allow_zero=False)
        # Parameters a kind ignores are pinned to 1.0, and ints become floats, so
        # strategies that behave the same are equal and serialize the same.
        if self.kind != "exponential":
            base = 1.0
        if self.kind == "fixed":
            multiplier = 1.0
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "multiplier", multiplier)

    @classmethod
    def fixed(cls) -> BackoffStrategy:
        """The same delay after every failure."""
        return cls("fixed", base=1.0, multiplier=1.0)

    @classmethod
    def linear(cls, multiplier: float = 1.0) -> BackoffStrategy:
        """Delay ``initial * attempt * multiplier``: grows by a constant step."""
        return cls("linear", base=1.0, multiplier=multiplier)

    @classmethod
    def exponential(cls, base: float = 2.0, multiplier: float = 1.0) -> BackoffStrategy:
        """Delay ``initial * multiplier * base ** (attempt - 1)``."""
        return cls("exponential", base=base, multiplier=multiplier)

    def delay(self, initial: float, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based), uncapped.

        Capping is the policy's job, so this can return a very large value; if the
        exponential overflows a float it returns ``math.inf`` instead of raising,
        because a cap applied afterwards makes that harmless.
        """
        attempt = _attempt(attempt)
        initial = _number("initial", initial)
        if initial == 0.0:
            return 0.0  # avoids 0 * inf = nan when the growth term overflows
        if self.kind == "fixed":
            return initial
        if self.kind == "linear":
            return initial * attempt * self.multiplier
        try:
            growth = self.base ** (attempt - 1)
        except OverflowError:
            return math.inf
        return initial * self.multiplier * growth

    def to_dict(self) -> dict[str, object]:
        """JSON-able form; only the parameters that affect the kind are included."""
        if self.kind == "fixed":
            return {"kind": "fixed"}
        if self.kind == "linear":
            return {"kind": "linear", "multiplier": self.multiplier}
        return {"kind": "exponential", "base": self.base, "multiplier": self.multiplier}


# --------------------------------------------------------------------------- condition


@dataclass(frozen=True, slots=True)
class RetryCondition:
    """Which errors deserve another attempt.

    Whatever the kind, a ``BaseException`` that is not an ``Exception``
    (``asyncio.CancelledError``, ``KeyboardInterrupt``, ``SystemExit``) never
    matches: those mean someone asked the work to stop, and retrying would defeat
    cancellation and shutdown.
    """

    kind: ConditionKind
    patterns: tuple[str, ...] = ()
    retryable: tuple[str, ...] | None = None
    non_retryable: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in get_args(ConditionKind):
            options = ", ".join(repr(k) for k in get_args(ConditionKind))
            raise ValueError(f"condition kind={self.kind!r} is not valid; use one of {options}")
        object.__setattr__(self, "patterns", _names("patterns", self.patterns))
        object.__setattr__(self, "non_retryable", _names("non_retryable", self.non_retryable))
        retryable = _names("retryable", self.retryable)
        # An empty allow-list is read as "no allow-list": grctl users write
        # retryable_errors=[] to mean "not set", and a policy that may retry
        # nothing is better written as max_attempts=1 or never().
        object.__setattr__(self, "retryable", retryable or None)

    @classmethod
    def all_errors(cls) -> RetryCondition:
        """Retry every ``Exception`` (Cloaca's default)."""
        return cls("all")

    @classmethod
    def never(cls) -> RetryCondition:
        """Never retry, whatever ``max_attempts`` says."""
        return cls("never")

    @classmethod
    def transient_only(cls) -> RetryCondition:
        """Retry timeouts, connection errors and errors whose text looks transient."""
        return cls("transient")

    @classmethod
    def error_pattern(cls, patterns: Sequence[str]) -> RetryCondition:
        """Retry when any pattern occurs, case-insensitively, in ``"Type: message"``."""
        return cls("error_pattern", patterns=_names("patterns", patterns))

    @classmethod
    def error_names(
        cls,
        retryable: Sequence[str] | None = None,
        non_retryable: Sequence[str] | None = None,
    ) -> RetryCondition:
        """grctl's condition: match exception class names, including base classes.

        ``non_retryable`` wins over ``retryable``; with no (or an empty)
        ``retryable`` list every error not excluded is retried.
        """
        return cls(
            "error_names",
            retryable=_names("retryable", retryable) or None,
            non_retryable=_names("non_retryable", non_retryable),
        )

    def matches(self, error: BaseException) -> bool:
        """Whether ``error`` should be retried under this condition."""
        if not isinstance(error, Exception):
            return False
        if self.kind == "all":
            return True
        if self.kind == "never":
            return False
        if self.kind == "transient":
            if isinstance(error, TimeoutError | ConnectionError):
                return True
            text = _error_text(error).lower()
            return any(marker in text for marker in _TRANSIENT_MARKERS)
        if self.kind == "error_pattern":
            text = _error_text(error).lower()
            return any(pattern.lower() in text for pattern in self.patterns)
        # error_names: compare against the whole MRO so "ConnectionError" covers
        # ConnectionRefusedError and "OSError" covers every I/O failure.
        class_names = {cls.__name__ for cls in type(error).__mro__}
        if any(name in class_names for name in self.non_retryable):
            return False
        if self.retryable is not None:
            return any(name in class_names for name in self.retryable)
        return True

    def to_dict(self) -> dict[str, object]:
        """JSON-able form; lists keep the user's order, which is part of the config."""
        if self.kind == "error_pattern":
            return {"kind": "error_pattern", "patterns": list(self.patterns)}
        if self.kind == "error_names":
            return {
                "kind": "error_names",
                "retryable": None if self.retryable is None else list(self.retryable),
                "non_retryable": list(self.non_retryable),
            }
        return {"kind": self.kind}


# --------------------------------------------------------------------------- jitter


@dataclass(frozen=True, slots=True)
class Jitter:
    """Randomization of a delay, so that tasks failing together do not retry together.

    The three source libraries randomize differently and users tune their numbers
    for their own formula, so each is kept exactly:

    * ``multiplicative`` (Cloaca): ``delay * U(low, high)``;
    * ``fraction`` (grctl): ``delay + U(0, fraction * delay)``;
    * ``additive`` (auto_workflow): ``delay + U(0, seconds)``.

    ``low`` and ``high`` hold the parameters: (low, high) for multiplicative,
    (0, fraction) for fraction and (0, seconds) for additive.
    """

    kind: JitterKind
    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in get_args(JitterKind):
            options = ", ".join(repr(k) for k in get_args(JitterKind))
            raise ValueError(f"jitter kind={self.kind!r} is not valid; use one of {options}")
        low = _number("low", self.low)
        high = _number("high", self.high)
        if low > high:
            raise ValueError(f"jitter low must be <= high, got low={low!r}, high={high!r}")
        if self.kind == "none" and (low, high) != (0.0, 0.0):
            raise ValueError("jitter kind='none' takes no low/high")
        if self.kind == "fraction" and high > 1.0:
            raise ValueError(f"jitter fraction must be between 0 and 1, got {high!r}")
        if self.kind in ("fraction", "additive") and low != 0.0:
            raise ValueError(f"jitter kind={self.kind!r} adds U(0, high); low must be 0")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @classmethod
    def none(cls) -> Jitter:
        """Deterministic delays."""
        return cls("none")

    @classmethod
    def multiplicative(cls, low: float = 0.75, high: float = 1.25) -> Jitter:
        """Cloaca's jitter: scale the delay by a factor drawn from ``[low, high]``."""
        return cls("multiplicative", low=_number("low", low), high=_number("high", high))

    @classmethod
    def fraction(cls, fraction: float) -> Jitter:
        """grctl's jitter: add up to ``fraction`` (0..1) of the delay."""
        return cls("fraction", low=0.0, high=_fraction("jitter fraction", fraction))

    @classmethod
    def additive(cls, seconds: float) -> Jitter:
        """auto_workflow's jitter: add up to ``seconds`` seconds."""
        return cls("additive", low=0.0, high=_number("jitter seconds", seconds))

    def apply(self, delay: float, rng: random.Random | None = None) -> float:
        """Return ``delay`` randomized; pass a seeded ``rng`` for reproducible values.

        The result is never negative, and an infinite delay is returned unchanged
        (randomizing it could only produce ``inf`` or ``nan``).
        """
        delay = max(0.0, float(delay))
        if self.kind == "none" or math.isinf(delay):
            return delay
        uniform = (rng or random).uniform
        if self.kind == "multiplicative":
            result = delay * uniform(self.low, self.high)
        elif self.kind == "fraction":
            result = delay + uniform(0.0, self.high * delay)
        else:
            result = delay + uniform(0.0, self.high)
        return max(0.0, result)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form, named after each style's own parameter."""
        if self.kind == "multiplicative":
            return {"kind": "multiplicative", "low": self.low, "high": self.high}
        if self.kind == "fraction":
            return {"kind": "fraction", "fraction": self.high}
        if self.kind == "additive":
            return {"kind": "additive", "seconds": self.high}
        return {"kind": "none"}


# --------------------------------------------------------------------------- policy


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
        attempts = _count("max_attempts", 1 if max_attempts is None else max_attempts)
        initial_ms = _number(
            "initial_delay_ms", 100 if initial_delay_ms is None else initial_delay_ms
        )
        multiplier = _number(
            "backoff_multiplier",
            2.0 if backoff_multiplier is None else backoff_multiplier,
            allow_zero=False,
        )
        max_ms = _number("max_delay_ms", 5000 if max_delay_ms is None else max_delay_ms)
        fraction = _fraction("jitter", 0.0 if jitter is None else jitter)
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
            max_attempts=_count("max_attempts", max_attempts),
            initial_delay=_number("initial_delay", initial_delay),
            max_delay=None if max_delay is None else _number("max_delay", max_delay),
            backoff=backoff,
            condition=condition,
            jitter=jitter,
        )
        return policy

    # ----------------------------------------------------------------- constructors

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
        attempts = _count("retry_attempts", 3 if retry_attempts is None else retry_attempts)
        backoff_name = _choice(
            "retry_backoff",
            "exponential" if retry_backoff is None else retry_backoff,
            _CLOACA_BACKOFFS,
        )
        delay_ms = _number("retry_delay_ms", 1000 if retry_delay_ms is None else retry_delay_ms)
        max_ms = _number(
            "retry_max_delay_ms", 60000 if retry_max_delay_ms is None else retry_max_delay_ms
        )
        condition_name = _choice(
            "retry_condition",
            "all" if retry_condition is None else retry_condition,
            _CLOACA_CONDITIONS,
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
        extra = _count("retries", retries)
        base_seconds = _number("retry_backoff", retry_backoff)
        jitter_seconds = _number("retry_jitter", retry_jitter)
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
        delay = self.backoff.delay(self.initial_delay, _attempt(attempt))
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        return max(0.0, self.jitter.apply(delay, rng))

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        """True iff failed attempt ``attempt`` leaves attempts and ``error`` qualifies."""
        return _attempt(attempt) < self.max_attempts and self.condition.matches(error)

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
        self._max_attempts = _count("max_attempts", n)
        return self

    def initial_delay(self, value: timedelta | float) -> RetryPolicyBuilder:
        """Base delay, as a ``timedelta`` or a number of seconds."""
        self._initial_delay = _seconds("initial_delay", value)
        return self

    def max_delay(self, value: timedelta | float | None) -> RetryPolicyBuilder:
        """Cap on the backoff delay (``timedelta`` or seconds); ``None`` removes it."""
        self._max_delay = None if value is None else _seconds("max_delay", value)
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
