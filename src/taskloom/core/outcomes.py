"""What the scheduler does with an attempt's outcome: record it, retry it, or end the node.

:class:`~taskloom.core.scheduler.RunExecution` drives a run; deciding what
an attempt's end means -- a completion (and the nodes a growing plan adds
with it), a retry after its backoff, a terminal failure, a skip -- is the
other half of its work, kept here so each half reads on its own. Every
outcome is written through the run's group commit, and what depends on it
(dependents, callbacks, retry timers) happens only once it is durable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskloom.core import trace_hooks
from taskloom.core.callbacks import describe_error, format_traceback
from taskloom.core.log_fields import task_fields
from taskloom.core.plan import Expansion, Invocation, Plan, PlanNode
from taskloom.journal.records import EventRecord, RunStatus, TaskRecord, TaskStatus

if TYPE_CHECKING:
    from taskloom.core.engine import Engine

logger = logging.getLogger("taskloom")

TERMINAL = TaskStatus.TERMINAL


class AttemptOutcomes:
    """The outcome half of a run's execution (state owned by ``RunExecution``)."""

    engine: Engine
    plan: Plan
    run_id: str
    tasks: dict[str, TaskRecord]
    outputs: dict[str, str]
    dependents: dict[str, list[str]]
    remaining: dict[str, int]
    open: int
    timers: dict[str, asyncio.TimerHandle]
    finished: bool
    _cancel: tuple[str, str] | None
    _next_seq: int | None
    trace: Any

    if TYPE_CHECKING:  # provided by RunExecution

        def cancel(self, reason: str = ..., status: str = ...) -> None: ...

        def _terminal(self, key: str) -> None: ...

        def _retry_due(self, key: str) -> None: ...

        def _callback(self, node: PlanNode, fn: Callable[..., Any], *args: Any) -> None: ...

        def _write(
            self,
            record: TaskRecord,
            kind: str,
            data: dict[str, Any] | str | None = None,
            then: Callable[[], None] | None = None,
            lazy: bool = False,
        ) -> None: ...

    def _succeed(self, key: str, output: str, invocation: Invocation) -> None:
        record = self.tasks[key]
        record.status = TaskStatus.COMPLETED
        record.ended_at = time.time()
        record.output_json = output
        record.error = None
        record.traceback = None
        self.outputs[key] = output
        node = self.plan.nodes[key]
        if self.plan.grows:
            for expansion in self.plan.expand(key, output):
                self._grow(key, expansion)

        def after_commit() -> None:
            if node.on_success is not None:
                state = self.plan.callback_state(invocation, output)
                self._callback(node, node.on_success, node.label, state)
            self._terminal(key)

        self._write(record, "task_succeeded", f'{{"attempt":{record.attempt}}}', after_commit)

    def _grow(self, key: str, expansion: Expansion) -> None:
        """Insert the nodes a completion of ``key`` added; linear in their number.

        Their rows go into the same commit as ``key``'s completion, and they
        count ``key`` as unfinished until that commit, so none of them starts
        before both are durable (the usual rule: a dependent starts only after
        its dependency's completion is committed).
        """
        tasks = self.tasks
        writer = self.engine.writer
        if self._next_seq is None:  # once per run that grows, not per expansion
            self._next_seq = 1 + max((r.seq for r in tasks.values()), default=-1)
        for node in expansion.nodes:
            record = TaskRecord(self.run_id, node.key, TaskStatus.PENDING, seq=self._next_seq)
            self._next_seq += 1
            tasks[node.key] = record
            self.dependents[node.key] = []
            count = 0
            for dep in node.deps:
                if dep == key or tasks[dep].status not in TERMINAL:
                    count += 1
                    self.dependents[dep].append(node.key)
            self.remaining[node.key] = count
            writer.add(task=record)
        self.open += len(expansion.nodes)
        collector = expansion.collector
        if collector is not None and collector in self.remaining:
            self.remaining[collector] += len(expansion.nodes)
            for node in expansion.nodes:
                self.dependents[node.key].append(collector)
        writer.add(
            event=EventRecord(
                self.run_id,
                "nodes_added",
                time.time(),
                collector,
                json.dumps({"after": key, "nodes": len(expansion.nodes)}),
            )
        )

    def _failed_attempt(self, key: str, exc: BaseException, invocation: Invocation) -> None:
        node = self.plan.nodes[key]
        record = self.tasks[key]
        retry = isinstance(exc, Exception) and node.retry.should_retry(record.attempt, exc)
        if not retry:
            self._fail_terminal(key, exc, invocation)
            return
        delay = max(0.0, node.retry.calculate_delay(record.attempt))
        record.status = TaskStatus.RETRYING
        record.next_retry_at = time.time() + delay
        record.error = describe_error(exc)
        record.traceback = format_traceback(exc)
        logger.info(
            "task %r of run %s failed (attempt %d), retrying in %.3f s: %s",
            node.label,
            self.run_id,
            record.attempt,
            delay,
            record.error,
            extra=task_fields(self.run_id, key, record.attempt),
        )

        if self.trace is not None:
            trace_hooks.event_on(
                self.trace, "taskloom.retry", {"taskloom.task_key": key, "delay": delay}
            )

        def after_commit() -> None:
            if not self.finished and self._cancel is None:
                self.timers[key] = self.engine.loop.call_later(delay, self._retry_due, key)

        self._write(
            record,
            "task_retry",
            {"attempt": record.attempt, "delay": delay, "error": record.error},
            after_commit,
        )

    def _fail_terminal(self, key: str, exc: BaseException, invocation: Invocation | None) -> None:
        node = self.plan.nodes[key]
        record = self.tasks[key]
        record.status = TaskStatus.FAILED
        record.ended_at = time.time()
        record.next_retry_at = None
        record.error = describe_error(exc)
        record.traceback = format_traceback(exc)
        logger.warning(
            "task %r of run %s failed after %d attempt(s): %s",
            node.label,
            self.run_id,
            record.attempt,
            record.error,
            extra=task_fields(self.run_id, key, record.attempt),
        )
        error_text = record.error

        def after_commit() -> None:
            if node.on_failure is not None:
                state = self.plan.callback_state(invocation, None) if invocation else None
                self._callback(node, node.on_failure, node.label, error_text, state)
            if self.plan.stop_on_failure:
                self.cancel(f"task {node.label!r} failed: {error_text}", status=RunStatus.FAILED)
                return
            self._terminal(key)

        self._write(record, "task_failed", {"error": record.error}, after_commit)

    def _skip(self, key: str, reason: str, output: str | None = None) -> None:
        record = self.tasks[key]
        record.status = TaskStatus.SKIPPED
        record.ended_at = time.time()
        if output is not None:  # a node gated off by its trigger rule passes its input on
            record.output_json = output
            self.outputs[key] = output
        self._write(record, "task_skipped", {"reason": reason})
        # Skipping has no side effect to protect, so dependents need not wait for the commit.
        self._terminal(key)
