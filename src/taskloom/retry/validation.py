"""The retry values' shared vocabulary and argument checks.

Every retry value (:mod:`.backoff`, :mod:`.conditions`, :mod:`.policy`) validates
what users pass it with these functions, so a bad option gets the same clear
message whichever style spelled it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

BackoffKind = Literal["fixed", "linear", "exponential"]
ConditionKind = Literal["all", "never", "transient", "error_pattern", "error_names"]
JitterKind = Literal["none", "multiplicative", "fraction", "additive"]

# Words that, found in "Type: message", mark an error as probably transient. They are
# matched lower-cased so "Connection reset" and "ConnectionResetError" both count.
TRANSIENT_MARKERS: tuple[str, ...] = (
    "timeout",
    "connection",
    "network",
    "temporary",
    "unavailable",
)

CLOACA_BACKOFFS: tuple[str, ...] = ("fixed", "linear", "exponential")
CLOACA_CONDITIONS: tuple[str, ...] = ("never", "transient", "all")


# --------------------------------------------------------------------------- helpers


def check_number(name: str, value: object, *, allow_zero: bool = True) -> float:
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


def check_count(name: str, value: object) -> int:
    """Return ``value`` as a non-negative ``int`` or raise naming ``name``.

    Strings such as ``"3"`` (typical of values read from config files) are refused
    rather than parsed, so the mistake surfaces where it was made.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def check_attempt(value: object) -> int:
    """Validate an attempt number; 0 is refused because attempts are 1-based."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"attempt must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"attempt must be >= 1 (attempts are numbered from 1), got {value!r}")
    return value


def check_seconds(name: str, value: object) -> float:
    """Accept a ``timedelta`` or a number of seconds, as Cloaca's builder does."""
    if isinstance(value, timedelta):
        return check_number(name, value.total_seconds())
    return check_number(name, value)


def check_names(name: str, values: Sequence[str] | None) -> tuple[str, ...]:
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


def check_choice(name: str, value: object, valid: tuple[str, ...]) -> str:
    """Check that ``value`` is one of the ``valid`` strings, listing them if not."""
    options = ", ".join(repr(v) for v in valid)
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a string (one of {options}), got {type(value).__name__} {value!r}"
        )
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; use one of {options}")
    return value


def check_fraction(name: str, value: object) -> float:
    """A number in [0, 1], with a message giving that whole range either way."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    result = float(value)
    if not 0.0 <= result <= 1.0:  # also false for nan
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return result


def error_text(error: BaseException) -> str:
    """The text conditions search: ``"Type: message"``, so a match on either works."""
    return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------- backoff
