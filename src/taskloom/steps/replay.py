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

from taskloom.core import trace_hooks
from taskloom.journal.base import Journal
from taskloom.journal.records import TaskRecord, TaskStatus
from taskloom.steps import step_context
from taskloom.steps.binding import bind
from taskloom.steps.context import StepContext
from taskloom.steps.directives import Directive, ErrorDetails
from taskloom.steps.errors import (
    NextDirectiveMissingError,
    NonDeterminismError,
    StepFailed,
    WorkflowFailed,
)
from taskloom.steps.journal import DRIVER_KEY, RecordedRun, RunWriter, step_key
from taskloom.steps.store import Store
from taskloom.steps.waiting import WaitResolver
from taskloom.steps.workflow import StepDefinition, Workflow, handler_arguments


class StepDriver:
    """Runs one workflow run from its first step (or its last recorded one) to its end."""

    def __init__(
        self, workflow: Workflow, workflow_id: str, writer_factory: Any, journal: Journal
    ) -> None:
        self.workflow = workflow
        self.workflow_id = workflow_id
        self._writer_factory = writer_factory
        self.waits = WaitResolver(workflow, workflow_id, journal)

    async def drive(self, input_json: str, records: list[TaskRecord]) -> Any:
        recorded = RecordedRun.load([r for r in records if r.task_key != DRIVER_KEY])
        writer: RunWriter = self._writer_factory(recorded.max_seq)
        state: dict[str, Any] = {}
        step: StepDefinition | None = self.workflow.require_start()
        args, kwargs = handler_arguments(json.loads(input_json))
        index = 0
        cursor = 0  # the highest signal id a step has consumed
        while True:
            entry = recorded.steps.get(index)
            if entry is not None and entry[1].status == TaskStatus.COMPLETED:
                name = entry[0]
                data = json.loads(entry[1].output_json or "{}")
                state.update(data.get("store") or {})
            else:
                assert step is not None
                name = step.name
                existing = entry[1] if entry is not None else None
                data = await self._execute(
                    step, index, args, kwargs, state, recorded, writer, existing
                )
            cursor = max(cursor, int(data.get("signal") or 0))
            directive = Directive.from_dict(data["directive"])
            if directive.kind == "complete":
                return directive.result
            if directive.kind == "fail":
                error_cls = StepFailed if data.get("uncaught") else WorkflowFailed
                assert directive.error is not None
                raise error_cls(self.workflow_id, directive.error, name)
            index += 1
            if directive.kind == "wait":
                step, args, kwargs = await self.waits.resume(
                    directive, data.get("deadline"), index, cursor, recorded, writer
                )
                continue
            assert directive.step is not None
            step = self.workflow.steps[directive.step]
            args, kwargs = (), dict(directive.kwargs)

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
    ) -> dict[str, Any]:
        """Run one step; record its directive and store updates in one row.

        Returns what was recorded. A step that handles an event carries the
        signal id (from its started row) into the row, so replay knows
        which events are consumed.
        """
        store = Store(state)
        ctx = StepContext(
            self.workflow, self.workflow_id, step.name, index, store, recorded, writer
        )
        record = existing or writer.new_record(step_key(index, step.name), TaskStatus.RUNNING)
        carried = json.loads(record.output_json) if record.output_json else {}
        record.status = TaskStatus.RUNNING
        record.attempt += 1
        record.started_at = time.time()
        writer.save(record, "step_started", {"step": step.name})
        data: dict[str, Any]
        try:
            with trace_hooks.span(f"taskloom.step {step.name}", {"taskloom.step": step.name}):
                directive = await self._call_handler(step, ctx, args, kwargs)
            data = {"directive": directive.to_dict(), "store": store.updates}
            if directive.kind == "wait" and directive.timeout is not None:
                # The deadline is fixed when the wait is recorded, so a restart
                # does not start the timeout over.
                data["deadline"] = time.time() + directive.timeout
            payload = json.dumps(data, allow_nan=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = ctx.nondeterminism or exc
            details = ErrorDetails(
                type=type(error).__name__,
                message=str(error),
                stack_trace="".join(traceback.format_exception(error)),
                qualified_type=f"{type(error).__module__}.{type(error).__qualname__}",
            )
            directive = Directive("fail", error=details)
            data = {"directive": directive.to_dict(), "store": {}, "uncaught": True}
            payload = json.dumps(data)
        if "signal" in carried:
            data["signal"] = carried["signal"]
            payload = json.dumps(data)
        record.status = TaskStatus.COMPLETED
        record.ended_at = time.time()
        record.output_json = payload
        state.update(data["store"])
        await writer.commit(record, "step_completed", {"step": step.name, "next": directive.kind})
        return data

    async def _call_handler(
        self,
        step: StepDefinition,
        ctx: StepContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Directive:
        args, kwargs = bind(step.signature, args, kwargs)
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
            raise NextDirectiveMissingError(
                f"step {step.name!r} of workflow {self.workflow.workflow_type!r} returned "
                f"{type(result).__name__}, not a directive; return ctx.next.complete(...), "
                "ctx.next.fail(...) or ctx.next.step(...)"
            )
        if result.kind == "step":
            self.workflow.step_name(result.step)
        if result.kind == "wait" and not self.workflow.events and result.on_timeout is None:
            raise TypeError(
                f"step {step.name!r} of workflow {self.workflow.workflow_type!r} waits for an "
                "event, but the workflow handles none; add an @wf.event(name) handler"
            )
        called, before = ctx.position, recorded_count(ctx)
        if before > called:
            raise NonDeterminismError(
                f"workflow {self.workflow_id!r}, step {step.name!r}: the recorded execution "
                f"called {before} operation(s) but the re-execution called only {called}"
            )
        return result


def recorded_count(ctx: StepContext) -> int:
    return ctx.recorded.ops_of_step(ctx.index)
