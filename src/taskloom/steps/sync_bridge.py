"""Running the body of a *sync* durable function: a worker thread bridged to the loop.

A plain ``def`` cannot ``await`` its task calls, yet every call must still
be journaled by the step's recorder, which lives on the engine's event
loop. So the body runs in a worker thread with a :class:`SyncBridge`
installed as its recorder: each task call (and each ``ctx`` helper) is
handed to the loop, run there exactly as in an async step, and the thread
blocks until the value is back. The body is sequential, so call positions
-- and therefore operation ids -- are as deterministic as in async code.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from taskloom.steps import step_context

if TYPE_CHECKING:
    from taskloom.steps.context import StepContext
    from taskloom.steps.workflow import Workflow
    from taskloom.task import TaskDefinition

T = TypeVar("T")


class SyncBridge:
    """The recorder of a sync body: task calls return their value, not an awaitable."""

    def __init__(self, ctx: StepContext, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.loop = loop
        #: Set once the step stops waiting for the body (it ended, timed out or was
        #: cancelled); a thread that keeps running must not record anything more.
        self.closed = False

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run ``make()`` on the loop and return its value (or raise its exception) here."""
        if self.closed:
            raise RuntimeError(
                f"durable run {self.ctx.workflow_id!r} no longer waits for this function "
                "(it timed out or was cancelled); its remaining calls are not recorded"
            )

        async def guarded() -> tuple[bool, Any]:
            # ``Suspend`` is a BaseException; it must reach the body as a value
            # rather than escape an asyncio task on the engine's loop.
            try:
                return True, await make()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                return False, exc

        ok, value = asyncio.run_coroutine_threadsafe(guarded(), self.loop).result()
        if not ok:
            raise value
        result: T = value
        return result

    def call(
        self, task: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return self.run(lambda: self.ctx.call(task, args, kwargs))


class SyncContext:
    """What a sync durable function's ``ctx`` parameter gets: the helpers, blocking."""

    def __init__(self, bridge: SyncBridge) -> None:
        self._bridge = bridge
        self._ctx = bridge.ctx
        self.workflow_id = bridge.ctx.workflow_id
        self.workflow_type = bridge.ctx.workflow_type

    def now(self) -> datetime:
        """The current time (UTC), recorded and replayed."""
        return self._bridge.run(self._ctx.now)

    def sleep(self, duration: timedelta | float) -> None:
        """Durable sleep; see ``StepContext.sleep`` (the function re-runs on wake-up)."""
        self._bridge.run(lambda: self._ctx.sleep(duration))

    def random(self) -> float:
        """A random float in [0, 1), recorded and replayed."""
        return self._bridge.run(lambda: _value(self._ctx.random))

    def uuid4(self) -> uuid.UUID:
        """A random UUID, recorded and replayed."""
        return self._bridge.run(lambda: _value(self._ctx.uuid4))

    def run_child(
        self, workflow: str | Workflow, workflow_id: str | None = None, input: Any = None
    ) -> Any:
        """Run a child workflow and return its result."""
        return self._bridge.run(lambda: self._ctx.run_child(workflow, workflow_id, input))

    def start_child(
        self, workflow: str | Workflow, workflow_id: str | None = None, input: Any = None
    ) -> str:
        """Start a child workflow; its workflow id."""
        return self._bridge.run(lambda: self._ctx.start_child(workflow, workflow_id, input))


async def _value(produce: Callable[[], T]) -> T:
    return produce()


async def run_sync_body(
    ctx: StepContext, fn: Callable[..., Any], kwargs: dict[str, Any], wants_ctx: bool
) -> Any:
    """Run ``fn(**kwargs)`` in a worker thread whose task calls are journaled through ``ctx``."""
    bridge = SyncBridge(ctx, asyncio.get_running_loop())

    def body() -> tuple[bool, Any]:
        token = step_context.set_recorder(bridge)
        try:
            if wants_ctx:
                kwargs["ctx"] = SyncContext(bridge)
            return True, fn(**kwargs)
        except BaseException as exc:  # re-raised on the loop, Suspend included
            return False, exc
        finally:
            step_context.reset_recorder(token)

    try:
        ok, value = await asyncio.to_thread(body)
    finally:
        bridge.closed = True
    if not ok:
        raise value
    return value
