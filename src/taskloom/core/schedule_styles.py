"""What the schedule loop needs of the styles, registered by them (the core imports none).

A schedule names a workflow and the style it belongs to; firing it means
building that style's plan for one run. Each style registers a *starter*
(workflow name, recorded input, run id, plan host -> plan and run input, or
None when this process does not define that workflow) and a *knows*
predicate (does this process define a workflow of that name?), used to
place a trigger's ``on=`` workflow in its style.

Polled triggers are defined in code (``@taskloom.trigger``): their
definitions are kept here, each with a ``poll`` callable that returns
whether to fire and with which input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskloom.core.styles import PlanHost, load_styles

if TYPE_CHECKING:
    from taskloom.core.plan import Plan

#: ``(workflow_name, input_json, run_id, host) -> (plan, run input JSON) | None``.
Starter = Callable[[str, str, str, PlanHost], "tuple[Plan, str] | None"]

_starters: dict[str, Starter] = {}
_knows: dict[str, Callable[[str], bool]] = {}
_triggers: dict[str, TriggerDefinition] = {}


def register_schedule_style(style: str, starter: Starter, knows: Callable[[str], bool]) -> None:
    """Teach the schedule loop how to start a run of ``style``'s workflows."""
    _starters[style] = starter
    _knows[style] = knows


def starter_for(style: str) -> Starter | None:
    if style not in _starters:
        load_styles()
    return _starters.get(style)


def style_of(workflow_name: str) -> str | None:
    """The style defining a workflow of that name in this process, if any."""
    load_styles()
    for style, knows in _knows.items():
        if knows(workflow_name):
            return style
    return None


@dataclass(frozen=True)
class TriggerDefinition:
    """A trigger defined in this process.

    ``poll`` is None for a cron trigger (its body is never called); else it
    returns ``(fire, input JSON or None for the schedule's own input)``.
    """

    name: str
    workflow_name: str
    poll: Callable[[], tuple[bool, str | None]] | None
    poll_interval_ms: int | None
    cron: str | None
    timezone: str
    allow_concurrent: bool


def register_trigger(definition: TriggerDefinition) -> None:
    """Define (or redefine) the trigger of that name in this process."""
    _triggers[definition.name] = definition


def lookup_trigger(name: str) -> TriggerDefinition | None:
    return _triggers.get(name)


def trigger_definitions() -> list[TriggerDefinition]:
    return list(_triggers.values())


def forget_triggers() -> None:
    """Drop every trigger definition (tests)."""
    _triggers.clear()
