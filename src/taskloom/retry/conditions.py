"""Which failed attempts are worth another try: :class:`RetryCondition`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

from taskloom.retry.validation import (
    TRANSIENT_MARKERS,
    ConditionKind,
    check_names,
    error_text,
)


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
        object.__setattr__(self, "patterns", check_names("patterns", self.patterns))
        object.__setattr__(self, "non_retryable", check_names("non_retryable", self.non_retryable))
        retryable = check_names("retryable", self.retryable)
        # An empty allow-list is read as "no allow-list": grctl users write
        # retryable_errors=[] to mean "not set", and a policy that may retry
        # nothing is better written as max_attempts=1 or never().
        object.__setattr__(self, "retryable", retryable or None)

    def __repr__(self) -> str:
        """Cloaca's spelling: ``RetryCondition.AllErrors``, ``RetryCondition.ErrorPattern(...)``."""
        if self.kind == "all":
            return "RetryCondition.AllErrors"
        if self.kind == "never":
            return "RetryCondition.Never"
        if self.kind == "transient":
            return "RetryCondition.TransientOnly"
        if self.kind == "error_pattern":
            return f"RetryCondition.ErrorPattern(patterns={list(self.patterns)!r})"
        retryable = None if self.retryable is None else list(self.retryable)
        return (
            f"RetryCondition.ErrorNames(retryable={retryable!r}, "
            f"non_retryable={list(self.non_retryable)!r})"
        )

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
        return cls("error_pattern", patterns=check_names("patterns", patterns))

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
            retryable=check_names("retryable", retryable) or None,
            non_retryable=check_names("non_retryable", non_retryable),
        )

    def matches(self, error: BaseException | str) -> bool:
        """Whether ``error`` should be retried under this condition.

        ``error`` may also be the text of an error (Cloaca's
        ``should_retry(attempt, error_type)`` passes a string): it is matched
        as ``"Type: message"`` would be, and by class name for ``error_names``.
        """
        if isinstance(error, str):
            return self._matches_text(error)
        if not isinstance(error, Exception):
            return False
        if self.kind == "all":
            return True
        if self.kind == "never":
            return False
        if self.kind == "transient":
            if isinstance(error, TimeoutError | ConnectionError):
                return True
            text = error_text(error).lower()
            return any(marker in text for marker in TRANSIENT_MARKERS)
        if self.kind == "error_pattern":
            text = error_text(error).lower()
            return any(pattern.lower() in text for pattern in self.patterns)
        # error_names: compare against the whole MRO so "ConnectionError" covers
        # ConnectionRefusedError and "OSError" covers every I/O failure.
        class_names = {cls.__name__ for cls in type(error).__mro__}
        if any(name in class_names for name in self.non_retryable):
            return False
        if self.retryable is not None:
            return any(name in class_names for name in self.retryable)
        return True

    def _matches_text(self, text: str) -> bool:
        if self.kind in ("all", "never"):
            return self.kind == "all"
        lowered = text.lower()
        if self.kind == "transient":
            return any(marker in lowered for marker in TRANSIENT_MARKERS)
        if self.kind == "error_pattern":
            return any(pattern.lower() in lowered for pattern in self.patterns)
        name = text.split(":", 1)[0].strip()
        if name in self.non_retryable:
            return False
        return self.retryable is None or name in self.retryable

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
