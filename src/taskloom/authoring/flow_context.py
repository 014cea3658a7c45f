"""The flow being built in this context, if any.

``TaskDefinition.__call__`` consults it to decide between recording a call
(inside a ``@flow`` body) and running the task. It lives in its own tiny
module so the task module can read it without importing the flow machinery.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskloom.authoring.flow import FlowBuilder

_current: contextvars.ContextVar[FlowBuilder | None] = contextvars.ContextVar(
    "taskloom_flow_builder", default=None
)


def current_flow_builder() -> FlowBuilder | None:
    """The builder of the flow body running in this thread / asyncio task."""
    return _current.get()


def set_flow_builder(builder: FlowBuilder | None) -> contextvars.Token[FlowBuilder | None]:
    return _current.set(builder)


def reset_flow_builder(token: contextvars.Token[FlowBuilder | None]) -> None:
    _current.reset(token)
