"""Cloaca's event triggers: ``@taskloom.trigger`` and ``TriggerResult``.

Two modes, as in Cloaca: a *poll* trigger (``poll_interval``, default 30 s)
whose function is called at that interval and returns a ``TriggerResult``
(or a bool) -- a fire starts a run of the ``on`` workflow with the result's
context; and a *cron* trigger (``cron`` and optional ``timezone``) that
schedules the ``on`` workflow (its body is never called). The decorated
function stays an ordinary callable.

A definition is kept in the core's registry (:mod:`taskloom.core.schedule_styles`)
and recorded in the journal by every runner that starts in a process
defining it; the schedule loop polls it (off any event loop) and fires it
exactly once per poll that says fire, whatever the number of processes.
(Not to be confused with :mod:`taskloom.dag.triggers`: the trigger *rules*
that decide whether a task of a running workflow runs.)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from taskloom.core.cron import CronSpec, parse_interval
from taskloom.core.schedule_styles import TriggerDefinition, register_trigger
from taskloom.dag.context import Context
from taskloom.dag.submission import context_json

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT_POLL = "30s"


class TriggerResult:
    """What a poll trigger's function returns: fire (with a context) or skip."""

    __slots__ = ("context", "should_fire")

    def __init__(self, should_fire: bool = False, context: Context | dict[str, Any] | None = None):
        if not isinstance(should_fire, bool):
            raise TypeError(f"TriggerResult(should_fire={should_fire!r}): give True or False")
        if context is not None:
            context_json(context)  # refuse what cannot become a run's input, now
        self.should_fire = should_fire
        self.context = context

    @staticmethod
    def fire(context: Context | dict[str, Any] | None = None) -> TriggerResult:
        """The condition is met: start a run of the trigger's workflow with ``context``."""
        return TriggerResult(True, context)

    @staticmethod
    def skip() -> TriggerResult:
        """The condition is not met: poll again at the next interval."""
        return TriggerResult(False)

    def is_fire_result(self) -> bool:
        return self.should_fire

    def is_skip_result(self) -> bool:
        return not self.should_fire

    def __repr__(self) -> str:
        if not self.should_fire:
            return "TriggerResult.Skip"
        if self.context is None:
            return "TriggerResult.Fire(None)"
        data = self.context.to_dict() if isinstance(self.context, Context) else self.context
        return f"TriggerResult.Fire({data!r})"


def trigger(
    *,
    name: str | None = None,
    on: str | None = None,
    poll_interval: str | None = None,
    cron: str | None = None,
    timezone: str | None = None,
    allow_concurrent: bool = False,
) -> Callable[[F], F]:
    """Define a trigger (Cloaca's ``@cloaca.trigger``); see the module docstring.

    ``name`` defaults to the function's name, ``on`` (the workflow fired) to
    the trigger's name for a poll trigger; a cron trigger needs ``on``.
    ``allow_concurrent=False``: no new run while the trigger's previous run
    is still running (the skipped fire is recorded in its history).
    """
    if cron is not None and poll_interval is not None:
        raise ValueError("@trigger cannot set both 'cron' and 'poll_interval': pick one")
    if cron is not None and on is None:
        raise ValueError(
            "@trigger(cron=...) requires 'on' (the workflow the cron schedule fires), for "
            "example @trigger(on='nightly_report', cron='0 2 * * *')"
        )
    if timezone is not None and cron is None:
        raise ValueError("@trigger(timezone=...) applies to cron triggers only: also give cron=")
    for label, value in (("name", name), ("on", on)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"@trigger({label}={value!r}): give a non-empty str")
    if not isinstance(allow_concurrent, bool):
        raise ValueError(f"@trigger(allow_concurrent={allow_concurrent!r}): give True or False")
    interval_ms: int | None = None
    if cron is not None:
        CronSpec.parse(cron, timezone or "UTC")
    else:
        interval_ms = round(parse_interval(poll_interval or _DEFAULT_POLL) * 1000)

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"@trigger decorates a function, got {type(fn).__name__}")
        trigger_name = name or fn.__name__
        register_trigger(
            TriggerDefinition(
                name=trigger_name,
                workflow_name=on or trigger_name,
                poll=None if cron is not None else _poller(trigger_name, fn),
                poll_interval_ms=interval_ms,
                cron=cron,
                timezone=timezone or "UTC",
                allow_concurrent=allow_concurrent,
            )
        )
        return fn

    return decorate


def _poller(name: str, fn: Callable[[], Any]) -> Callable[[], tuple[bool, str | None]]:
    """Call the trigger's function (a coroutine function runs on an event loop of its own)."""

    def poll() -> tuple[bool, str | None]:
        result = fn()
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        if isinstance(result, bool):
            return result, None
        if not isinstance(result, TriggerResult):
            raise TypeError(
                f"trigger {name!r} must return TriggerResult (or a bool), got "
                f"{type(result).__name__}: return TriggerResult.fire(context) or "
                "TriggerResult.skip()"
            )
        if not result.should_fire:
            return False, None
        return True, context_json(result.context) if result.context is not None else None

    return poll


async def _await(awaitable: Any) -> Any:
    return await awaitable
