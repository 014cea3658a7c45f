"""Directives: what a step tells the engine to do next.

A step handler returns exactly one directive; the engine records it together
with the step's store updates in one journal row, which is what makes a
completed step atomic and never re-executed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from taskloom.steps.codec import json_default

DirectiveKind = Literal["complete", "fail", "step", "wait"]


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """Structured failure of a workflow (grctl's ``ErrorDetails``)."""

    type: str
    message: str
    stack_trace: str | None = None
    #: ``module.QualName`` of the exception, when known (grctl's field).
    qualified_type: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.type, "message": self.message, "stack_trace": self.stack_trace}
        if self.qualified_type:
            data["qualified_type"] = self.qualified_type
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorDetails:
        return cls(
            str(data["type"]),
            str(data["message"]),
            data.get("stack_trace"),
            str(data.get("qualified_type") or ""),
        )


@dataclass(frozen=True, slots=True)
class Directive:
    """The outcome of one step: complete, fail, or go to another step."""

    kind: DirectiveKind
    result: Any = None
    error: ErrorDetails | None = None
    step: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: ``wait`` only: seconds to wait for an event (None: forever) and the step run then.
    timeout: float | None = None
    on_timeout: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "kind": self.kind,
            "result": self.result,
            "error": self.error.to_dict() if self.error else None,
            "step": self.step,
            "kwargs": self.kwargs,
        }
        if self.kind == "wait":
            data["timeout"] = self.timeout
            data["on_timeout"] = self.on_timeout
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Directive:
        error = data.get("error")
        return cls(
            kind=data["kind"],
            result=data.get("result"),
            error=ErrorDetails.from_dict(error) if error else None,
            step=data.get("step"),
            kwargs=dict(data.get("kwargs") or {}),
            timeout=data.get("timeout"),
            on_timeout=data.get("on_timeout"),
        )


class NextBuilder:
    """``ctx.next``: builds the directive a step returns."""

    def __init__(self, step_names: Callable[[Any], str]) -> None:
        self._step_name = step_names

    def complete(self, result: Any = None) -> Directive:
        """End the workflow successfully with ``result``: JSON data, or a dataclass or
        pydantic model (recorded as its fields)."""
        try:
            data = json.loads(json.dumps(result, default=json_default, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"ctx.next.complete(...): a {type(result).__name__} cannot be recorded ({exc}); "
                "complete with JSON data, a dataclass or a pydantic model"
            ) from None
        return Directive("complete", result=data)

    def fail(self, error: ErrorDetails) -> Directive:
        """End the workflow as failed with structured details."""
        if not isinstance(error, ErrorDetails):
            raise TypeError(
                f"ctx.next.fail() takes an ErrorDetails(type=..., message=...), got {error!r}"
            )
        return Directive("fail", error=error)

    def step(self, handler: Any, **kwargs: Any) -> Directive:
        """Continue with another step of this workflow, passing ``kwargs`` to it."""
        return Directive("step", step=self._step_name(handler), kwargs=kwargs)

    def wait(self, timeout: timedelta | float | None = None, on_timeout: Any = None) -> Directive:
        """Wait for an event (an ``@wf.event`` handler runs next), holding no slot.

        After ``timeout`` (a ``timedelta`` or seconds; None waits forever)
        without an event, the step ``on_timeout`` runs instead -- or, without
        one, the workflow fails with a ``WaitTimeout`` error.
        """
        seconds = seconds_of(timeout, "ctx.next.wait(timeout=...)")
        name = self._step_name(on_timeout) if on_timeout is not None else None
        return Directive("wait", timeout=seconds, on_timeout=name)

    def wait_for_event(
        self, timeout: timedelta | float | None = None, timeout_step_name: Any = None
    ) -> Directive:
        """grctl's earlier name of :meth:`wait` (``timeout_step_name``: the step, or its name)."""
        return self.wait(timeout, timeout_step_name)


def seconds_of(duration: timedelta | float | None, what: str) -> float | None:
    """``duration`` in seconds, checked: a clear error for anything but a non-negative time."""
    if duration is None:
        return None
    if isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, int | float) and not isinstance(duration, bool):
        seconds = float(duration)
    else:
        raise TypeError(f"{what}: give a timedelta or a number of seconds, got {duration!r}")
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{what}: {duration!r} is not a finite duration >= 0")
    return seconds
