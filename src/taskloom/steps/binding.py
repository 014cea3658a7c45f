"""How an input, event payload or step arguments reach a handler's parameters.

Recorded data is JSON, but handlers are typed: ``async def start(ctx, order:
OrderRequest)``. Binding rebuilds dataclasses and pydantic models from the
annotations (as grctl does), and follows grctl's rule for a handler with one
parameter: a dict payload keyed by that parameter's name gives its value,
any other payload *is* the value (``input=OrderRequest(...)`` reaches
``order``). Otherwise a dict is spread over keyword parameters.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskloom.steps.codec import restore


@dataclass(frozen=True, slots=True)
class HandlerSignature:
    """A handler's parameters after ``ctx``, with their resolved annotations."""

    params: dict[str, Any]
    #: ``*args`` / ``**kwargs``: arguments are passed through as they are.
    variadic: bool

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> HandlerSignature:
        try:
            hints = typing.get_type_hints(fn)
        except Exception:
            hints = {}
        parameters = list(inspect.signature(fn).parameters.values())[1:]
        variadic = any(
            p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            for p in parameters
        )
        return cls({p.name: hints.get(p.name) for p in parameters}, variadic)


def bind(
    signature: HandlerSignature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments to call the handler with, typed values rebuilt."""
    if signature.variadic:
        return args, kwargs
    names = list(signature.params)
    if len(names) == 1 and not args and kwargs and names[0] not in kwargs:
        # grctl's rule: the whole payload is the one parameter's value.
        return (), {names[0]: restore(kwargs, signature.params[names[0]])}
    typed_args = tuple(
        restore(value, signature.params[names[i]]) if i < len(names) else value
        for i, value in enumerate(args)
    )
    typed_kwargs = {k: restore(v, signature.params.get(k)) for k, v in kwargs.items()}
    return typed_args, typed_kwargs
