"""``StepContext``: what a step handler receives as ``ctx``.

It is also the recorder that turns task calls into journaled operations:
while a step runs, ``TaskDefinition.__call__`` finds the context through a
context variable and asks it for an awaitable. The operation's position is
taken at *call* time, not when it is awaited, so positions follow the order
of calls -- which is deterministic for ``gather``, ``TaskGroup`` and
``create_task`` alike.
"""

from __future__ import annotations

import json
import random as _random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from taskloom.core.suspend import Suspend
from taskloom.journal.records import TaskStatus
from taskloom.steps.awaitable_values import RecordedFloat, RecordedUUID
from taskloom.steps.directives import NextBuilder, seconds_of
from taskloom.steps.errors import NonDeterminismError
from taskloom.steps.journal import RecordedRun, RunWriter, args_digest, op_key
from taskloom.steps.logger import ReplayAwareLogger, workflow_logger
from taskloom.steps.run_info import ChildHandle, RunInfo
from taskloom.steps.store import Store

if TYPE_CHECKING:
    from taskloom.steps.workflow import Workflow
    from taskloom.task import TaskDefinition


class WorkflowFunction(Protocol):
    """A durable function, as ``run_child`` and ``start_child`` accept one.

    ``functions.DurableFunction`` satisfies it; described here because that
    module imports this one.
    """

    @property
    def workflow(self) -> Workflow: ...


class StepContext:
    """The context of one execution of one step (grctl's ``Context``)."""

    def __init__(
        self,
        workflow: Workflow,
        workflow_id: str,
        step_name: str,
        index: int,
        store: Store,
        recorded: RecordedRun,
        writer: RunWriter,
    ) -> None:
        self.workflow_id = workflow_id
        self.workflow_type = workflow.workflow_type
        self._logger = workflow.logger
        self.step_name = step_name
        self.next = NextBuilder(workflow.step_name)
        self.store = store
        self.index = index
        self.recorded = recorded
        self.writer = writer
        self.position = 0
        #: Set when a replayed call did not match the record; fails the run whatever happens.
        self.nondeterminism: NonDeterminismError | None = None

    # -- operations -------------------------------------------------------

    def call(
        self, task: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]:
        from taskloom.steps.operations import run_operation

        position = self._take_position()
        return run_operation(self, task, args, kwargs, position)

    def _take_position(self) -> int:
        position = self.position
        self.position += 1
        return position

    def check_recorded(self, position: int, name: str, digest: str) -> None:
        """Raise ``NonDeterminismError`` if the record at ``position`` is another call."""
        recorded = self.recorded.ops.get((self.index, position))
        if recorded is None or (recorded.name == name and recorded.digest == digest):
            return
        same = "the same task with different arguments" if recorded.name == name else name
        error = NonDeterminismError(
            f"workflow {self.workflow_id!r}, step {self.step_name!r}: call #{position} was "
            f"{recorded.name!r} when recorded but is now {same!r}; a step must call its tasks "
            "in the same order with the same arguments when it is re-executed (guard a change "
            'made under runs in flight with `if ctx.patched("change-id"): ...`)'
        )
        self.nondeterminism = self.nondeterminism or error
        raise error

    def patched(self, change_id: str) -> bool:
        """Whether this run takes the new branch of a code change named ``change_id``.

        A run that already went past this point under the old code (a
        replay) gets False and keeps the old branch; a new run, or one that
        had not got here yet, gets True. The first decision of a run is
        recorded and every later call with the same id returns it. See
        :mod:`taskloom.steps.patching`.
        """
        from taskloom.steps.patching import decide

        return decide(self, change_id)

    # -- recorded values --------------------------------------------------

    def _recorded_value(self, name: str, produce: Callable[[], Any]) -> Any:
        """A value produced once and replayed from the journal afterwards."""
        position = self._take_position()
        self.check_recorded(position, name, "0" * 12)
        recorded = self.recorded.ops.get((self.index, position))
        if recorded is not None and recorded.record.status == TaskStatus.COMPLETED:
            return json.loads(recorded.record.output_json or "null")
        value = produce()
        record = self.writer.new_record(
            op_key(self.index, position, "0" * 12, name), TaskStatus.COMPLETED
        )
        record.attempt = 1
        record.started_at = record.ended_at = time.time()
        record.output_json = json.dumps(value)
        self.writer.save(record, "value_recorded")
        return value

    async def now(self) -> datetime:
        """The current time (UTC), recorded: a replay sees the first execution's time."""
        stamp = self._recorded_value("__now__", time.time)
        return datetime.fromtimestamp(float(stamp), tz=UTC)

    async def sleep(self, duration: timedelta | float) -> None:
        """Pause the step durably: no slot, thread or coroutine is held meanwhile.

        The wake-up time is recorded before the run suspends, so after a
        restart the run wakes at that time, not a full ``duration`` later.
        On wake-up the step is re-executed from its start (completed
        operations replay from the journal) and this call returns. Await it
        in the step itself, not inside ``gather`` with other operations.
        """
        seconds = seconds_of(duration, "ctx.sleep(...)")
        if seconds is None:
            raise TypeError("ctx.sleep(None): give a timedelta or a number of seconds")
        position = self._take_position()
        digest = args_digest((seconds,), {})
        self.check_recorded(position, "__sleep__", digest)
        recorded = self.recorded.ops.get((self.index, position))
        if recorded is not None:
            record = recorded.record
            if record.status == TaskStatus.COMPLETED:
                return
            wake_at = record.next_retry_at if record.next_retry_at is not None else time.time()
        else:
            record = self.writer.new_record(
                op_key(self.index, position, digest, "__sleep__"), TaskStatus.SUSPENDED
            )
            record.attempt = 1
            record.started_at = time.time()
            wake_at = record.next_retry_at = record.started_at + seconds
            await self.writer.commit(record, "sleep_started", {"seconds": seconds})
        if time.time() >= wake_at:
            record.status = TaskStatus.COMPLETED
            record.ended_at = time.time()
            record.output_json = "null"
            self.writer.save(record, "sleep_completed")
            return
        raise Suspend(wake_at, f"step {self.step_name!r} sleeps")

    async def run_child(
        self,
        workflow: str | Workflow | WorkflowFunction,
        workflow_id: str | None = None,
        input: Any = None,
        *,
        workflow_input: Any = None,
        workflow_timeout: timedelta | float | None = None,
    ) -> Any:
        """Start a child workflow and wait for its result, holding no slot meanwhile.

        The child's failure is raised here as ``WorkflowFailed`` (or
        ``StepFailed``). After a crash the child is found, not started again.
        ``workflow_input`` is grctl's name of ``input``; ``workflow_timeout``
        is recorded in the child's ``run_info`` but sets no deadline.
        """
        from taskloom.steps.children import child_result, ensure_child

        data = _child_input(input, workflow_input)
        seconds_of(workflow_timeout, "run_child(workflow_timeout=...)")
        child_id = await ensure_child(self, _workflow(workflow), workflow_id, data)
        return child_result(self, child_id)

    async def start_child(
        self,
        workflow: str | Workflow | WorkflowFunction,
        workflow_id: str | None = None,
        input: Any = None,
        *,
        workflow_input: Any = None,
        workflow_timeout: timedelta | float | None = None,
    ) -> ChildHandle:
        """Start a child workflow without waiting for it.

        Returns its workflow id as a :class:`ChildHandle` (a ``str`` with
        grctl's ``run_info``). The child reports back with
        ``ctx.send_to_parent(...)``, or the parent waits with ``run_child``.
        """
        from taskloom.steps.children import ensure_child

        target = _workflow(workflow)
        data = _child_input(input, workflow_input)
        seconds = seconds_of(workflow_timeout, "start_child(workflow_timeout=...)")
        child_id = await ensure_child(self, target, workflow_id, data)
        info = RunInfo(
            id=child_id,
            wf_id=child_id,
            wf_type=target.workflow_type,
            parent_wf_id=self.workflow_id,
            parent_wf_type=self.workflow_type,
            parent_run_id=self.workflow_id,
            timeout=None if seconds is None else int(seconds),
        )
        return ChildHandle(info)

    #: grctl's earlier name of :meth:`start_child`.
    start = start_child

    async def send_to_parent(self, event_name: str, payload: Any = None) -> None:
        """Send event ``event_name`` to the run that started this one, exactly once.

        ``RuntimeError`` if this run is not a child workflow.
        """
        from taskloom.steps.parent import send_to_parent

        await send_to_parent(self, event_name, payload)

    def random(self) -> RecordedFloat:
        """A random float in [0, 1), recorded and replayed (``await`` it, or use it as is)."""
        return RecordedFloat(self._recorded_value("__random__", _random.random))

    def uuid4(self) -> RecordedUUID:
        """A random UUID, recorded and replayed (``await`` it, or use it as is)."""
        return RecordedUUID(self._recorded_value("__uuid4__", lambda: str(uuid.uuid4())))

    # -- grctl's run information and logger ----------------------------------

    @property
    def replaying(self) -> bool:
        """True while the step re-executes operations the journal already holds."""
        return (self.index, self.position) in self.recorded.ops

    @property
    def logger(self) -> ReplayAwareLogger:
        """A logger that is silent while the step replays (see :mod:`~taskloom.steps.logger`)."""
        return ReplayAwareLogger(
            workflow_logger(self.workflow_type, self._logger), lambda: self.replaying
        )

    @property
    def run(self) -> RunInfo:
        """This run, as grctl's ``ctx.run`` shows it (``id``, ``wf_id``, ``wf_type``, parent)."""
        from taskloom.steps.parent import parent_of

        parent = parent_of(self)
        return RunInfo(
            id=self.workflow_id,
            wf_id=self.workflow_id,
            wf_type=self.workflow_type,
            parent_wf_id=parent,
            parent_run_id=parent,
        )

    #: grctl's newer name of :attr:`run`.
    run_info = run


def _child_input(input: Any, workflow_input: Any) -> Any:
    if input is not None and workflow_input is not None:
        raise TypeError("give the child's input as input= or workflow_input=, not both")
    return workflow_input if input is None else input


def _workflow(workflow: str | Workflow | WorkflowFunction) -> Workflow:
    from taskloom.steps.workflow import Workflow, lookup_workflow

    if isinstance(workflow, Workflow):
        return workflow
    inner = getattr(workflow, "workflow", None)  # a durable function
    if isinstance(inner, Workflow):
        return inner
    found = lookup_workflow(workflow) if isinstance(workflow, str) else None
    if found is None:
        raise TypeError(
            f"child workflow {workflow!r}: give a steps.Workflow or the workflow_type of one "
            "defined in this process"
        )
    return found


#: grctl's name for the step context.
Context = StepContext
