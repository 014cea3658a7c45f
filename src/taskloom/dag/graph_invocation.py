"""``@task(invokes=graph, post_invocation=fn)``: a task body followed by a graph.

The graph runs inside the task's own attempt, after the body: each terminal
node that ran puts its output into the task's context under its name, then
``post_invocation`` may change the context, then the task completes (and
``on_success`` runs). Because it is part of the attempt, the graph's work is
recorded with the task's output: a crash after the task completed never
runs it again, a node that raises fails the attempt (so the task's retry
policy applies), exactly as if the body had raised.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from taskloom.dag.context import Context

if TYPE_CHECKING:
    from taskloom.task import TaskDefinition


def invoking_body(definition: TaskDefinition[Any, Any]) -> Callable[..., Any]:
    """The function the engine calls for a task that invokes a graph."""
    graph = definition.invokes
    post = definition.post_invocation
    body = definition.fn
    assert graph is not None  # only called for invoking tasks

    def finish(context: Context, result: Any) -> Any:
        if result is None:
            ctx = context
        elif isinstance(result, Context):
            ctx = result
        elif isinstance(result, Mapping):
            ctx = Context(result)
        else:
            return result  # not a context: the plan reports it, naming the task
        for name, value in graph.run(context=Context(ctx.to_dict())):
            ctx.set(name, value)
        if post is not None:
            returned = post(ctx)
            if inspect.isawaitable(returned):
                returned = asyncio.run(_awaited(returned))
            if isinstance(returned, Context):
                ctx = returned
            elif isinstance(returned, Mapping):
                ctx = Context(returned)
        return ctx

    if definition.is_async:

        @functools.wraps(body)
        async def run_async(context: Context, *rest: Any) -> Any:
            result = await body(context, *rest)
            # Node functions are plain (possibly blocking) calls: off the event loop.
            return await asyncio.to_thread(finish, context, result)

        return run_async

    @functools.wraps(body)
    def run(context: Context, *rest: Any) -> Any:
        return finish(context, body(context, *rest))

    return run


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
