"""How long to wait before the next attempt: :class:`BackoffStrategy` and :class:`Jitter`.

Small frozen values (tenacity's idea): the policy combines one of each, and
each can be tested alone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import get_args

from taskloom.retry.validation import (
    BackoffKind,
    JitterKind,
    check_attempt,
    check_fraction,
    check_number,
)


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
        base = check_number("base", self.base, allow_zero=False)
        multiplier = check_number("multiplier", self.multiplier, allow_zero=False)
        # Parameters a kind ignores are pinned to 1.0, and ints become floats, so
        # strategies that behave the same are equal and serialize the same.
        if self.kind != "exponential":
            base = 1.0
        if self.kind == "fixed":
            multiplier = 1.0
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "multiplier", multiplier)

    def __repr__(self) -> str:
        """Cloaca's spelling: ``BackoffStrategy.Exponential(base=2.0, multiplier=1.0)``."""
        if self.kind == "fixed":
            return "BackoffStrategy.Fixed"
        if self.kind == "linear":
            return f"BackoffStrategy.Linear(multiplier={self.multiplier})"
        return f"BackoffStrategy.Exponential(base={self.base}, multiplier={self.multiplier})"

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
        attempt = check_attempt(attempt)
        initial = check_number("initial", initial)
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
        low = check_number("low", self.low)
        high = check_number("high", self.high)
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
        return cls("multiplicative", low=check_number("low", low), high=check_number("high", high))

    @classmethod
    def fraction(cls, fraction: float) -> Jitter:
        """grctl's jitter: add up to ``fraction`` (0..1) of the delay."""
        return cls("fraction", low=0.0, high=check_fraction("jitter fraction", fraction))

    @classmethod
    def additive(cls, seconds: float) -> Jitter:
        """auto_workflow's jitter: add up to ``seconds`` seconds."""
        return cls("additive", low=0.0, high=check_number("jitter seconds", seconds))

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
