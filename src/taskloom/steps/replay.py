"""The driver: run a workflow's steps, replaying what the journal already holds.

It is the body of the one scheduler node of a step run. After a crash the
engine's recovery re-runs it; completed steps are then not executed again
(their directive and store updates are read back), and the interrupted step
is re-executed from its start, its completed operations replayed by id.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from typing import Any

from taskloom.authoring import step_context
from taskloom.journal.records import TaskRecord, TaskStatus
from taskloom.steps.context import StepContext
from taskloom.steps.directives import Directive, ErrorDetails
from taskloom.steps.errors import NonDeterminismError, StepFailed, WorkflowFailed
from taskloom.steps.journal import DRIVER_KEY, RecordedRun, RunWriter, step_key
from taskloom.steps.store import Store
from taskloom.steps.workflow import StepDefinition, Workflow


class StepDriver:
    """Runs one workflow run from its first step (or its last recorded one) to its end."""

    def __init__(self, workflow: Workflow, workflow_id: str, writer_factory: Any) -> None:
        self.workflow = workflow
        self.workflow_id = workflow_id
        self._writer_factory = writer_factory

    async def drive(self, input_json: str, records: list[TaskRecord]) -> Any:
        recorded = RecordedRun.load([r for r in records if r.task_key != DRIVER_KEY])
        writer: RunWriter = self._writer_factory(recorded.max_seq)
        state: dict[str, Any] = {}
        step = self.workflow.require_start()
        args, kwargs = _start_arguments(json.loads(input_json))
        index = 0
        while True:
            entry = recorded.steps.get(index)
            if entry is not None and entry[1].status == TaskStatus.COMPLETED:
                data = json.loads(entry[1].output_json or "{}")
                state.update(data.get("store") or {})
                directive = Directive.from_dict(data["directive"])
                uncaught = bool(data.get("uncaught"))
            else:
                existing = entry[1] if entry is not None else None
                directive, uncaught = await self._execute(
                    step, index, args, kwargs, state, recorded, writer, existing
                )
            if directive.kind == "complete":
                return directive.result
            if directive.kind == "fail":
                error_cls = StepFailed if uncaught else WorkflowFailed
                assert directive.error is not None
                raise error_cls(self.workflow_id, directive.error, step.name)
            assert directive.step is not None
            step = self.workflow.steps[directive.step]
            args, kwargs = (), dict(directive.kwargs)
            index += 1

    async def _execute(
        self,
        step: StepDefinition,
        index: int,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        state: dict[str, Any],
        recorded: RecordedRun,
        writer: RunWriter,
        existing: TaskRecord | None,
    ) -> tuple[Directive, bool]:
        """Run one step; record its directive and store updates in one row."""
        store = Store(state)
        ctx = StepContext(
            self.workflow, self.workflow_id, step.name, index, store, recorded, writer
        )
        record = existing or writer.new_record(step_key(index, step.name), TaskStatus.RUNNING)
        record.status = TaskStatus.RUNNING
        record.attempt += 1
        record.started_at = time.time()
        writer.save(record, "step_started", {"step": step.name})
        uncaught = False
        try:
            directive = await self._call_handler(step, ctx, args, kwargs)
            payload = json.dumps(
                {"directive": directive.to_dict(), "store": store.updates}, allow_nan=False
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = ctx.nondeterminism or exc
            uncaught = True
            details = ErrorDetails(
                type=type(error).__name__,
                message=str(error),
                stack_trace="".join(traceback.format_exception(error)),
            )
            directive = Directive("fail", error=details)
            payload = json.dumps({"directive": directive.to_dict(), "store": {}, "uncaught": True})
        record.status = TaskStatus.COMPLETED
        record.ended_at = time.time()
        record.output_json = payload
        state.update(json.loads(payload)["store"])
        await writer.commit(record, "step_completed", {"step": step.name, "next": directive.kind})
        return directive, uncaught

    async def _call_handler(
        self,
        step: StepDefinition,
        ctx: StepContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Directive:
        token = step_context.set_recorder(ctx)
        try:
            if step.timeout is None:
                result = await step.fn(ctx, *args, **kwargs)
            else:
                try:
                    async with asyncio.timeout(step.timeout):
                        result = await step.fn(ctx, *args, **kwargs)
                except TimeoutError as exc:
                    raise TimeoutError(
                        f"step {step.name!r} of workflow {self.workflow.workflow_type!r} "
                        f"timed out after {step.timeout:g} s"
                    ) from exc
        finally:
            step_context.reset_recorder(token)
        if ctx.nondeterminism is not None:
            raise ctx.nondeterminism
        if not isinstance(result, Directive):
            raise TypeError(
                f"step {step.name!r} of workflow {self.workflow.workflow_type!r} returned "
                f"{type(result).__name__}, not a directive; return ctx.next.complete(...), "
                "ctx.next.fail(...) or ctx.next.step(...)"
            )
        if result.kind == "step":
            self.workflow.step_name(result.step)
        called, before = ctx.position, recorded_count(ctx)
        if before > called:
            raise NonDeterminismError(
                f"workflow {self.workflow_id!r}, step {step.name!r}: the recorded execution "
                f"called {before} operation(s) but the re-execution called only {called}"
            )
        return result


def recorded_count(ctx: StepContext) -> int:
    return ctx.recorded.ops_of_step(ctx.index)


def _start_arguments(data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A dict input is spread over keyword parameters; anything else is one argument."""
    if data is None:
        return (), {}
    if isinstance(data, dict):
        return (), dict(data)
    return (data,), {}
