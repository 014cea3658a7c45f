"""One task call inside a step: run it with retries, or replay its record.

Durability rules, in the order they matter:

* a completed operation is never run again: its recorded value is returned;
* a terminally failed one re-raises the recorded exception type;
* every failed attempt is committed before the next one starts, so a
  crash mid-retry resumes at the right attempt count (the attempt that was
  in flight when the process died does not count, as in the scheduler);
* completion is committed before the step sees the value, so nothing that
  follows in the step can be recorded without it.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import TYPE_CHECKING, Any

from taskloom.core import trace_hooks
from taskloom.errors import TaskTimeoutError
from taskloom.journal.records import TaskRecord, TaskStatus
from taskloom.steps import step_context
from taskloom.steps.codec import (
    decode_result,
    encode_error,
    encode_result,
    rebuild_error,
    return_type,
)
from taskloom.steps.journal import args_digest, op_key
from taskloom.steps.recorder import StepRecorder

if TYPE_CHECKING:
    from taskloom.task import TaskDefinition


async def run_operation(
    ctx: StepRecorder,
    task: TaskDefinition[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    position: int,
) -> Any:
    name = task.task_id
    digest = args_digest(args, kwargs)
    ctx.check_recorded(position, name, digest)
    recorded = ctx.recorded.ops.get((ctx.index, position))
    failures = 0
    if recorded is None:
        record = ctx.writer.new_record(op_key(ctx.index, position, digest, name), "Pending")
    else:
        record = recorded.record
        if record.status == TaskStatus.COMPLETED:
            return decode_result(record.output_json or "null", return_type(task.fn))
        if record.status == TaskStatus.FAILED:
            raise rebuild_error(record.output_json, f"task {name!r} failed: {record.error}")
        if record.status == TaskStatus.RETRYING:
            failures = record.attempt
            if record.next_retry_at is not None:
                await asyncio.sleep(max(0.0, record.next_retry_at - time.time()))
        else:  # interrupted mid-attempt: that attempt does not count
            failures = max(0, record.attempt - 1)
    policy = task.dataflow_retry
    while True:
        attempt = failures + 1
        record.status = TaskStatus.RUNNING
        record.attempt = attempt
        record.started_at = time.time()
        record.ended_at = record.next_retry_at = None
        ctx.writer.save(record, "operation_started", {"attempt": attempt})
        try:
            with trace_hooks.span(
                f"taskloom.operation {task.task_id}",
                {"taskloom.task": task.task_id, "taskloom.attempt": attempt},
            ):
                value = await _invoke(ctx, task, args, kwargs)
        except Exception as exc:
            failures = attempt
            if policy.should_retry(attempt, exc):
                delay = policy.calculate_delay(attempt)
                _fail(record, exc, TaskStatus.RETRYING)
                record.next_retry_at = time.time() + delay
                await ctx.writer.commit(
                    record, "operation_retry", {"attempt": attempt, "delay": delay}
                )
                await asyncio.sleep(delay)
                continue
            _fail(record, exc, TaskStatus.FAILED)
            await ctx.writer.commit(record, "operation_failed", {"attempt": attempt})
            raise
        try:
            output = encode_result(value, f"task {name!r}")
        except TypeError as exc:
            _fail(record, exc, TaskStatus.FAILED)
            await ctx.writer.commit(record, "operation_failed", {"attempt": attempt})
            raise
        record.status = TaskStatus.COMPLETED
        record.ended_at = time.time()
        record.output_json = output
        record.error = record.traceback = None
        await ctx.writer.commit(record, "operation_completed", {"attempt": attempt})
        return value


def _fail(record: TaskRecord, exc: BaseException, status: str) -> None:
    record.status = status
    record.ended_at = time.time()
    record.error = f"{type(exc).__name__}: {exc}"
    record.traceback = "".join(traceback.format_exception(exc))
    record.output_json = encode_error(exc)


async def _invoke(
    ctx: StepRecorder, task: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Call the task body once, outside the step's recorder (nested calls run directly)."""
    token = step_context.set_recorder(None)
    try:
        if task.is_async:
            call = task.fn(*args, **kwargs)
        else:
            loop = asyncio.get_running_loop()
            call = loop.run_in_executor(
                ctx.writer.engine.executor, lambda: task.fn(*args, **kwargs)
            )
        if task.timeout is None:
            return await call
        try:
            async with asyncio.timeout(task.timeout) as scope:
                return await call
        except TimeoutError:
            if not scope.expired():
                raise
            raise TaskTimeoutError(
                f"task {task.task_id!r} timed out after {task.timeout:g} s"
            ) from None
    finally:
        step_context.reset_recorder(token)
