"""One attempt of a task body: async on the loop, sync in a worker thread.

A sync body is handed straight to the thread pool and reports back with one
``call_soon_threadsafe`` -- no asyncio task in between, which keeps the
per-task overhead of long chains low.

Timeouts: an async body is cancelled. A sync body's attempt fails on time,
but Python cannot kill a thread, so the body runs on in the background and
whatever it returns is discarded (use ``run_in="process"`` for bodies that
must really be stopped).

Every path ends in :meth:`Attempt._finish`, which runs exactly once: it
gives the concurrency slot back and reports the outcome to the scheduler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskloom.core import current
from taskloom.core.current import TaskScope
from taskloom.core.handle import TaskHandle
from taskloom.core.plan import Invocation, PlanNode
from taskloom.core.slots import SlotLease
from taskloom.errors import TaskTimeoutError

if TYPE_CHECKING:
    from taskloom.core.writer import JournalWriter

logger = logging.getLogger("taskloom")

#: Called on the loop thread with (attempt, value, error) when an attempt ends.
OnDone = Callable[["Attempt", Any, BaseException | None], None]


class Completions:
    """Where worker threads drop finished sync attempts for the loop to collect.

    One ``call_soon_threadsafe`` wakes the loop for every attempt that finished
    before it got to run; it collects them all with the journal writer held,
    then commits their records inline -- one commit for the burst and no
    extra loop turn between a task ending and its dependents being released.
    """

    __slots__ = ("_items", "_loop", "_scheduled", "_writer")

    def __init__(self, loop: asyncio.AbstractEventLoop, writer: JournalWriter) -> None:
        self._loop = loop
        self._writer = writer
        self._items: deque[tuple[Attempt, concurrent.futures.Future[Any]]] = deque()
        self._scheduled = False

    def put(self, attempt: Attempt, future: concurrent.futures.Future[Any]) -> None:
        """Worker thread: queue a finished attempt; wake the loop unless already woken."""
        self._items.append((attempt, future))
        # Racy on purpose: the loop clears the flag *before* draining, so an
        # item appended while it drains is either collected by that drain or
        # wakes it again (a spare wake-up finds nothing; harmless).
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._scheduled = False
        items = self._items
        writer = self._writer
        writer.hold()
        try:
            while items:
                attempt, future = items.popleft()
                try:
                    attempt._collect(future)
                except Exception:
                    logger.exception("taskloom internal error collecting an attempt")
        finally:
            writer.release()


class Attempt:
    """A running attempt; ``abandon()`` stops caring about it (run cancelled)."""

    __slots__ = (
        "_task",
        "_timer",
        "context",
        "done",
        "executor",
        "handle",
        "inbox",
        "invocation",
        "lease",
        "loop",
        "node",
        "on_done",
        "trace",
    )

    def __init__(
        self,
        node: PlanNode,
        invocation: Invocation,
        lease: SlotLease,
        handle: TaskHandle | None,
        loop: asyncio.AbstractEventLoop,
        executor: concurrent.futures.Executor,
        on_done: OnDone,
        inbox: Completions | None = None,
    ) -> None:
        self.node = node
        self.invocation = invocation
        self.lease = lease
        self.handle = handle
        self.loop = loop
        self.executor = executor
        self.on_done = on_done
        self.inbox = inbox
        self.done = False
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: With tracing on: the context the body runs in, and the attempt's span.
        self.context: contextvars.Context | None = None
        self.trace: Any = None

    def start(self, scope: TaskScope | None = None) -> None:
        """Start the body; ``scope``: the run and attempt, its ``current_task()``."""
        node = self.node
        args = self.invocation.args
        if node.handle_parameter is not None:
            args = (*args, self.handle)
        if self.context is not None:
            # Tracing prepared the body's context: the scope goes into it too.
            context = self.context
            context.run(current.install, scope)
            if node.is_async:
                self._task = self.loop.create_task(self._run_async(args), context=context)
                return
        else:
            # The body inherits the scope: an asyncio task copies the context it
            # is created in, a sync body runs in a copy made here.
            token = current.install(scope)
            try:
                if node.is_async:
                    self._task = self.loop.create_task(self._run_async(args))
                    return
                context = contextvars.copy_context()
            finally:
                current.uninstall(token)
        future = self.executor.submit(context.run, node.fn, *args, **self.invocation.kwargs)
        if node.timeout is not None:
            self._timer = self.loop.call_later(node.timeout, self._timed_out)
        future.add_done_callback(self._thread_done)

    # -- sync bodies ------------------------------------------------------

    def _thread_done(self, future: concurrent.futures.Future[Any]) -> None:
        """Runs in the worker thread: hop back to the loop."""
        # RuntimeError: the loop was closed by shutdown; nothing to report to.
        with contextlib.suppress(RuntimeError):
            if self.inbox is not None:
                self.inbox.put(self, future)
            else:
                self.loop.call_soon_threadsafe(self._collect, future)

    def _collect(self, future: concurrent.futures.Future[Any]) -> None:
        if self.done:
            return
        if future.cancelled():
            self._finish(None, asyncio.CancelledError("the worker pool shut down"))
            return
        error = future.exception()
        if error is not None:
            self._finish(None, error)
            return
        value = future.result()
        if asyncio.iscoroutine(value):  # a sync wrapper that returned a coroutine
            self._task = self.loop.create_task(self._await_value(value))
            return
        self._finish(value, None)

    async def _await_value(self, value: Any) -> None:
        try:
            result = await value
        except asyncio.CancelledError:
            if not self.done:
                raise
            return
        except BaseException as exc:
            self._finish(None, exc)
            return
        self._finish(result, None)

    def _timed_out(self) -> None:
        self._timer = None
        self._finish(
            None,
            TaskTimeoutError(
                f"task {self.node.label!r} timed out after {self.node.timeout:g} s "
                "(its thread runs on; the result is discarded)"
            ),
        )

    # -- async bodies -----------------------------------------------------

    async def _run_async(self, args: tuple[Any, ...]) -> None:
        node = self.node
        try:
            if node.timeout is None:
                value = await node.fn(*args, **self.invocation.kwargs)
            else:
                try:
                    async with asyncio.timeout(node.timeout) as scope:
                        value = await node.fn(*args, **self.invocation.kwargs)
                except TimeoutError:
                    if not scope.expired():
                        raise
                    raise TaskTimeoutError(
                        f"task {node.label!r} timed out after {node.timeout:g} s"
                    ) from None
        except asyncio.CancelledError:
            if self.done:
                return
            raise
        except BaseException as exc:
            self._finish(None, exc)
            return
        self._finish(value, None)

    # -- the end ----------------------------------------------------------

    def _finish(self, value: Any, error: BaseException | None) -> None:
        if self.done:
            return
        self._release()
        self.on_done(self, value, error)

    def _release(self) -> None:
        self.done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.handle is not None:
            self.handle._consume()
        self.lease.release()

    def abandon(self) -> None:
        """The run no longer wants this attempt: free its slot, cancel an async body."""
        if self.done:
            return
        self._release()
        if self._task is not None and not self._task.done():
            self._task.cancel()
