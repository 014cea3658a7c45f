"""``AsyncClient``: the step client for ``async`` code (grctl's client is async).

The httpx convention: ``Client`` stays synchronous, ``AsyncClient`` has the
same methods as coroutines. Journal reads and writes are short and run in
a worker thread; waiting for a result is done in short slices, so a
cancelled ``await`` (``asyncio.wait_for``) never leaves a thread blocked
for long. Handles carry grctl's shape: ``run_info``, ``future``,
``result()``, ``send()``, ``cancel()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from taskloom.steps.client import Client, WorkflowHandle
from taskloom.steps.codec import restore
from taskloom.steps.directives import seconds_of
from taskloom.steps.errors import WorkflowNotFoundError
from taskloom.steps.results import recorded_result
from taskloom.steps.run_info import RunInfo

if TYPE_CHECKING:
    from taskloom.core.engine import Engine
    from taskloom.steps.functions import DurableFunction
    from taskloom.steps.history import HistoryEvent
    from taskloom.steps.workflow import Workflow

#: Longest a thread blocks in one slice of a wait.
WAIT_SLICE = 0.5


class AsyncWorkflowHandle:
    """A started run, for ``async`` code (grctl's ``WorkflowHandle``)."""

    def __init__(
        self,
        handle: WorkflowHandle,
        *,
        timeout: float | None = None,
        return_type: type[Any] | None = None,
    ) -> None:
        self._handle = handle
        self.workflow_id = handle.workflow_id
        #: Default wait of :meth:`result` and :attr:`future` (the ``timeout`` it was started with).
        self.timeout = timeout
        self.return_type = return_type

    def __repr__(self) -> str:
        return f"<AsyncWorkflowHandle {self.workflow_id!r}>"

    @property
    def run_info(self) -> RunInfo:
        """The run as the journal holds it now (``run_info.id`` is the workflow id)."""
        journal = self._handle._engine.journal
        run = journal.get_run(self.workflow_id)
        if run is None:
            raise WorkflowNotFoundError(f"no workflow with id {self.workflow_id!r}")
        from taskloom.steps.journal import RecordedRun

        parent = RecordedRun.load(journal.get_tasks(self.workflow_id)).parent
        return RunInfo.from_record(run, parent)

    @property
    def future(self) -> _Outcome:
        """``await handle.future`` (or ``asyncio.wait_for(handle.future, s)``): the result."""
        return _Outcome(self)

    async def result(self, timeout: timedelta | float | None = None) -> Any:
        """The ``complete()`` result once the run ends; raises ``WorkflowFailed`` (a
        ``WorkflowError``) if it failed, ``TimeoutError`` after ``timeout``."""
        seconds = seconds_of(timeout, "result(timeout=...)")
        if seconds is None:
            seconds = self.timeout
        deadline = None if seconds is None else time.monotonic() + seconds
        backend = self._handle._engine
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(
                    f"workflow {self.workflow_id!r} did not finish within {seconds} s"
                )
            step = WAIT_SLICE if left is None else min(WAIT_SLICE, left)
            try:
                await asyncio.to_thread(backend.wait, self.workflow_id, step)
                break
            except TimeoutError:
                continue
        value = await asyncio.to_thread(recorded_result, backend.journal, self.workflow_id)
        return restore(value, self.return_type)

    async def send(self, event_name: str, payload: Any = None) -> None:
        """Send event ``event_name`` to the run (accepted even without a handler)."""
        await asyncio.to_thread(self._handle.send, event_name, payload)

    async def cancel(self, reason: str | None = None) -> bool:
        """Cancel the run where it is executed; see ``WorkflowHandle.cancel``."""
        return await asyncio.to_thread(self._handle.cancel, reason or "cancelled by request")

    async def describe(self) -> RunInfo:
        return await asyncio.to_thread(lambda: self.run_info)

    async def get_history(self) -> list[HistoryEvent]:
        """The run's history in grctl's terms, read from the journal."""
        return await asyncio.to_thread(self._handle.get_history)


class _Outcome:
    """An awaitable of a handle's result (grctl's ``handle.future``)."""

    def __init__(self, handle: AsyncWorkflowHandle) -> None:
        self._handle = handle

    def __await__(self) -> Generator[Any, None, Any]:
        return self._handle.result().__await__()


class AsyncClient:
    """Starts and follows step workflows from ``async`` code; see :class:`Client`.

    ``execute=False`` records runs for workers instead of running them in
    this process (a :class:`~taskloom.steps.worker.Worker` on SQLite,
    ``taskloom worker`` on PostgreSQL), which is what grctl's client does.
    """

    def __init__(
        self, db: str | None = None, *, engine: Engine | None = None, execute: bool = True
    ) -> None:
        self._client = Client(db, engine=engine, execute=execute)

    async def start_workflow(
        self,
        workflow_type: str | Workflow | DurableFunction[Any],
        workflow_id: str | None = None,
        input: Any = None,
        *,
        timeout: timedelta | float | None = None,
        if_running: Literal["error", "return"] = "error",
        return_type: type[Any] | None = None,
    ) -> AsyncWorkflowHandle:
        """Record a new run and start it; ``timeout`` becomes the handle's default wait."""
        seconds = seconds_of(timeout, "start_workflow(timeout=...)")
        handle = await asyncio.to_thread(
            self._client.start_workflow,
            workflow_type,
            workflow_id,
            input,
            if_running=if_running,
        )
        return AsyncWorkflowHandle(handle, timeout=seconds, return_type=return_type)

    async def run_workflow(
        self,
        workflow_type: str | Workflow | DurableFunction[Any],
        workflow_id: str | None = None,
        input: Any = None,
        *,
        timeout: timedelta | float | None = None,
        return_type: type[Any] | None = None,
    ) -> Any:
        """Start a workflow and wait for its result (up to ``timeout``)."""
        handle = await self.start_workflow(
            workflow_type, workflow_id, input, timeout=timeout, return_type=return_type
        )
        return await handle.result()

    async def get_handle(
        self, workflow_id: str, *, return_type: type[Any] | None = None
    ) -> AsyncWorkflowHandle:
        """The handle of a recorded run; ``WorkflowNotFoundError`` if there is none."""
        handle = await asyncio.to_thread(self._client.get_handle, workflow_id)
        return AsyncWorkflowHandle(handle, return_type=return_type)

    async def send(self, workflow_id: str, name: str, payload: Any = None) -> None:
        await asyncio.to_thread(self._client.send, workflow_id, name, payload)

    async def describe(self, workflow_id: str) -> RunInfo:
        """The run ``workflow_id`` as grctl's ``RunInfo``."""
        return await (await self.get_handle(workflow_id)).describe()

    async def get_history(self, workflow_id: str) -> list[HistoryEvent]:
        """The history of run ``workflow_id`` (see :mod:`taskloom.steps.history`)."""
        return await (await self.get_handle(workflow_id)).get_history()
