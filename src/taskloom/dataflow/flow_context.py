"""The flow being built in this context, if any.

Setting the builder also routes task calls made in this context to it
through :mod:`taskloom.core.calls`, the seam ``TaskDefinition.__call__``
consults; the builder itself stays the dataflow style's business.
"""

from __future__ import annotations

import contextvars
from typing import Any

from taskloom.core import calls

# The builder is the dataflow style's ``FlowBuilder`` (typed loosely here: the
# flow module imports this one, not the other way round).
FlowBuilder = Any

_current: contextvars.ContextVar[FlowBuilder | None] = contextvars.ContextVar(
    "taskloom_flow_builder", default=None
)


def current_flow_builder() -> FlowBuilder | None:
    """The builder of the flow body running in this thread / asyncio task."""
    return _current.get()


Token = tuple[contextvars.Token[FlowBuilder | None], contextvars.Token[calls.CallHandler | None]]


def set_flow_builder(builder: FlowBuilder | None) -> Token:
    handler = builder.add_call if builder is not None else None
    return _current.set(builder), calls.set_handler(handler)


def reset_flow_builder(token: Token) -> None:
    calls.reset_handler(token[1])
    _current.reset(token[0])
