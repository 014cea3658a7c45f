"""Layer 3, execution: drive one run of a plan to its end.

The scheduler is event-driven and linear in the size of the graph: each node
keeps a count of unfinished dependencies, and finishing a node decrements
its dependents' counts -- no rescans, no polling. Timers exist only for
retry backoff and the workflow timeout.

Durability rule: a node's completion is committed before any dependent
starts, so after a crash a completed node is never run again. All methods
run on the engine's event-loop thread.

Two optional features cost the plans that do not use them one ``None`` or
``False`` test: concurrency groups (a node of ``PlanNode.group`` takes a
permit of its group before asking for a slot, so a limited ``fan_out``
never runs more than its limit while other nodes use the free slots) and
plans that grow while they run (``Plan.expand``, a dynamic ``fan_out``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from taskloom.core import current, deaths, events, graph, trace_hooks
from taskloom.core.attempt import Attempt
from taskloom.core.callbacks import run_isolated
from taskloom.core.decisions import (
    StatusView,
    carries_output,
    readiness,
    run_outcome,
    workflow_timeout_reason,
)
from taskloom.core.handle import TaskHandle
from taskloom.core.log_fields import task_fields
from taskloom.core.outcomes import AttemptOutcomes
from taskloom.core.plan import Invocation, Plan, PlanNode
from taskloom.core.result import WorkflowResult
from taskloom.core.slots import SlotLease, SlotPool
from taskloom.core.suspend import Suspend
from taskloom.journal.records import (
    EventRecord,
    RunRecord,
    RunStatus,
    RunUpdate,
    TaskRecord,
    TaskStatus,
)

if TYPE_CHECKING:
    from taskloom.core.engine import Engine

logger = logging.getLogger("taskloom")

TERMINAL = TaskStatus.TERMINAL

#: Journal event kinds that are also lifecycle events for subscribers.
_EMITTED = frozenset(
    ("task_started", "task_succeeded", "task_failed", "task_retry", "task_skipped")
)


class RunExecution(AttemptOutcomes):
    """The live state of one run inside an engine."""

    def __init__(
        self,
        engine: Engine,
        plan: Plan,
        run: RunRecord,
        records: list[TaskRecord] | None = None,
        workflow_timeout: float | None = None,
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.run = run
        self.run_id = run.run_id
        self.future: concurrent.futures.Future[WorkflowResult] = concurrent.futures.Future()
        self.workflow_timeout = workflow_timeout
        # A plan with a limit of its own gets private slots; otherwise the run
        # shares the engine's slots with every other run.
        self.slots = (
            SlotPool(plan.max_concurrency) if plan.max_concurrency is not None else engine.slots
        )
        # One small pool of permits per concurrency group, private to this run.
        # A grouped node holds its permit only while an attempt runs, never
        # while it waits for a retry or is suspended.
        self.groups = {name: SlotPool(limit) for name, limit in plan.group_limits.items()}
        if records is None:
            self.tasks = {
                key: TaskRecord(run.run_id, key, TaskStatus.PENDING, seq=i)
                for i, key in enumerate(plan.nodes)
            }
        else:
            # Rows that are not nodes of the plan (operations journaled by the
            # step style inside its one node) are not the scheduler's business.
            self.tasks = {r.task_key: r for r in records if r.task_key in plan.nodes}
        self.outputs: dict[str, str] = {
            k: r.output_json
            for k, r in self.tasks.items()
            if carries_output(r.status, r.output_json) and r.output_json is not None
        }
        self.dependents = graph.dependents_of({k: n.deps for k, n in plan.nodes.items()})
        self.remaining: dict[str, int] = {}
        self.open = 0
        self.running: dict[str, Attempt] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        #: Nodes whose body suspended (waiting for a time or a wake-up); no slot held.
        self.suspended: set[str] = set()
        #: Running nodes woken before they suspended: their next suspension ends at once.
        self._woken: set[str] = set()
        self.prepared: dict[str, Invocation] = {}
        self.callbacks: set[asyncio.Future[Any]] = set()
        self.finished = False
        self._cancel: tuple[str, str] | None = None
        self._ready_queue: deque[str] = deque()
        self._draining = False
        self._timeout_timer: asyncio.TimerHandle | None = None
        self._statuses = StatusView(self.tasks)
        #: The run's trace scope (its span) while tracing is on, else None.
        self.trace: Any = None
        #: When each queued node became ready (only while someone subscribes to events).
        self._ready_at: dict[str, float] = {}
        #: Row number of the next node a growing plan adds (found on first growth).
        self._next_seq: int | None = None
        #: Set when the run was resumed after its owner died (core/deaths.py).
        self._resumed: deaths.ResumedAttempts | None = None

    # -- lifecycle --------------------------------------------------------

    def new_task_records(self) -> list[TaskRecord]:
        return list(self.tasks.values())

    def start(self, recovering: bool = False) -> None:
        """Begin (or, after a crash, resume) the run."""
        now = time.time()
        if events.subscribers:
            self._emit("run_started", None)
        resumed = self._resumed = (
            deaths.ResumedAttempts(self.engine.max_process_deaths) if recovering else None
        )
        for record in self.tasks.values():
            if resumed is not None and record.status == TaskStatus.RUNNING:
                self._write(record, "attempt_interrupted", resumed.interrupted(record))
            elif recovering and record.status == TaskStatus.SUSPENDED:
                # Run it once: its body knows from its own journal whether
                # to continue (a signal came, the time is due) or to suspend
                # again until the recorded wake-up time.
                record.status = TaskStatus.PENDING
                record.next_retry_at = None
            if record.status not in TERMINAL:
                self.open += 1
        initial: list[str] = []
        for key, node in self.plan.nodes.items():
            if self.tasks[key].status in TERMINAL:
                continue
            count = sum(1 for d in node.deps if self.tasks[d].status not in TERMINAL)
            self.remaining[key] = count
            if count == 0:
                initial.append(key)
        if self.workflow_timeout is not None:
            elapsed = max(0.0, now - self.run.created_at)
            self._timeout_timer = self.engine.loop.call_later(
                max(0.0, self.workflow_timeout - elapsed), self._workflow_timed_out
            )
        if resumed is not None:
            resumed.frontier.update(initial)
        self._ready_queue.extend(self._by_priority(initial))
        self._drain()
        if self.open == 0 and not self.finished:
            self._finish()

    def cancel(self, reason: str = "cancelled", status: str = RunStatus.CANCELLED) -> None:
        """Stop the run: pending tasks are cancelled, running async bodies too."""
        if self.finished or self._cancel is not None:
            return
        self._cancel = (status, reason)
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        for running in list(self.running.values()):
            running.abandon()
            if running.trace is not None:
                trace_hooks.end_attempt_span(running, None, "cancelled")
        self.running.clear()
        now = time.time()
        for record in self.tasks.values():
            if record.status not in TERMINAL:
                record.status = TaskStatus.CANCELLED
                record.ended_at = now
                self.engine.writer.add(task=record)
        self.open = 0
        self._finish()

    def _workflow_timed_out(self) -> None:
        self._timeout_timer = None
        assert self.workflow_timeout is not None  # the timer is set only with a timeout
        self.cancel(
            workflow_timeout_reason(self.plan.workflow_name, self.workflow_timeout),
            status=RunStatus.FAILED,
        )

    # -- readiness --------------------------------------------------------

    def _drain(self) -> None:
        """Process ready nodes iteratively (skips can cascade through long chains)."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._ready_queue:
                if self.finished or self._cancel is not None:
                    self._ready_queue.clear()
                    break
                self._ready(self._ready_queue.popleft())
        finally:
            self._draining = False

    def _ready(self, key: str) -> None:
        """All dependencies of ``key`` are terminal: skip it, or queue it for a slot."""
        node = self.plan.nodes[key]
        record = self.tasks[key]
        decision = readiness(self.plan, node, self._statuses, self.outputs, self.run.input_json)
        if decision.error is not None:
            self._fail_terminal(key, decision.error, None)
            return
        if decision.skip_reason is not None:
            self._skip(key, decision.skip_reason, decision.output)
            return
        if decision.invocation is not None:
            self.prepared[key] = decision.invocation
        if record.status == TaskStatus.RETRYING and record.next_retry_at is not None:
            delay = record.next_retry_at - time.time()
            if delay > 0:
                self.timers[key] = self.engine.loop.call_later(delay, self._retry_due, key)
                return
        self._enqueue(key)

    def _enqueue(self, key: str) -> None:
        if events.subscribers:
            self._ready_at[key] = time.time()
        node = self.plan.nodes[key]
        if node.group is None:
            self.slots.request(node.priority, lambda: self._launch(key))
            return
        # Group permit first, then a slot: a node waiting for its group holds no
        # slot, so the rest of the run keeps every free slot.
        priority = node.priority
        self.groups[node.group].request(
            priority, lambda: self.slots.request(priority, lambda: self._launch(key))
        )

    def _release_group(self, node: PlanNode) -> None:
        """The attempt of a grouped node is over (or never started): free its permit."""
        if node.group is not None:
            self.groups[node.group].release()

    def _retry_due(self, key: str) -> None:
        self.timers.pop(key, None)
        if not self.finished and self._cancel is None:
            self._enqueue(key)

    def wake(self, key: str) -> bool:
        """Re-run a suspended node now (it holds no slot; it asks for one). Loop thread.

        A node still running may have looked before the reason to wake it
        (a signal, a child's end) existed and be about to suspend: it is
        marked, and its suspension then ends at once -- no lost wake-up.
        """
        if self.finished or self._cancel is not None:
            return False
        if key in self.running:
            self._woken.add(key)
            return False
        if key not in self.suspended:
            return False
        self.suspended.discard(key)
        timer = self.timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._enqueue(key)
        return True

    def _suspend(self, key: str, request: Suspend, woken: bool = False) -> None:
        """The body asked to wait: record it, give nothing back but a timer.

        ``woken``: it was woken while it ran, so it runs again at once.
        """
        record = self.tasks[key]
        record.status = TaskStatus.SUSPENDED
        # A suspension is not a failed attempt: it must not use up retries.
        record.attempt = max(0, record.attempt - 1)
        record.next_retry_at = request.wake_at
        self.suspended.add(key)
        self._write(
            record, "task_suspended", {"wake_at": request.wake_at, "reason": request.reason}
        )
        if woken or request.wake_at is not None:
            delay = 0.0 if request.wake_at is None else max(0.0, request.wake_at - time.time())
            self.timers[key] = self.engine.loop.call_later(0.0 if woken else delay, self.wake, key)

    # -- attempts ---------------------------------------------------------

    def _launch(self, key: str) -> None:
        """A slot is held for ``key``: start an attempt."""
        lease = SlotLease(self.slots)
        node = self.plan.nodes[key]
        if self.finished or self._cancel is not None:
            lease.release()
            self._release_group(node)
            return
        invocation = self.prepared.pop(key, None)
        if invocation is None:
            try:
                invocation = self.plan.prepare(node, self.outputs, self.run.input_json)
            except Exception as exc:
                lease.release()
                self._release_group(node)
                self._fail_terminal(key, exc, None)
                return
        record = self.tasks[key]
        record.attempt += 1
        died = self._resumed.died.pop(key, None) if self._resumed is not None else None
        if died is not None:
            lease.release()
            self._release_group(node)
            self._failed_attempt(key, deaths.died(node.label, died), invocation)
            return
        record.status = TaskStatus.RUNNING
        record.started_at = time.time()
        record.ended_at = None
        record.next_retry_at = None
        handle = (
            TaskHandle(lease, self.engine.loop, node.label)
            if node.handle_parameter is not None
            else None
        )
        attempt = Attempt(
            node,
            invocation,
            lease,
            handle,
            self.engine.loop,
            self.engine.executor,
            self._attempt_done,
            self.engine.completions,
        )
        self.running[key] = attempt
        if self.trace is not None:
            tracer = trace_hooks.tracing()
            if tracer is not None:
                attempt.trace, attempt.context = tracer.start_attempt(
                    self.trace,
                    self.run_id,
                    self.plan.workflow_name,
                    key,
                    node.name or node.label or key,
                    record.attempt,
                )
        scope = current.scope_of(self.run, self.plan, node, record.attempt)
        if self._resumed is not None:
            self._resumed.start(record, attempt, self._write, scope)
            return
        self._write(record, "task_started", f'{{"attempt":{record.attempt}}}', lazy=True)
        attempt.start(scope)

    def _attempt_done(self, attempt: Attempt, value: Any, error: BaseException | None) -> None:
        node = attempt.node
        if attempt.trace is not None:
            trace_hooks.end_attempt_span(attempt, error)
        self.running.pop(node.key, None)
        woken = node.key in self._woken
        self._woken.discard(node.key)
        if node.group is not None:
            self.groups[node.group].release()
        if self.finished or self._cancel is not None:
            return
        if isinstance(error, Suspend):
            self._suspend(node.key, error, woken)
            return
        if error is None:
            try:
                output = self.plan.encode(node, attempt.invocation, value)
            except Exception as exc:
                error = exc
            else:
                self._succeed(node.key, output, attempt.invocation)
                return
        self._failed_attempt(node.key, error, attempt.invocation)

    def _terminal(self, key: str) -> None:
        """``key`` reached a final state: release its dependents."""
        if self.finished or self._cancel is not None:
            return
        self.open -= 1
        released: list[str] = []
        for child in self.dependents[key]:
            if self.tasks[child].status in TERMINAL:
                continue
            self.remaining[child] -= 1
            if self.remaining[child] == 0:
                released.append(child)
        self._ready_queue.extend(self._by_priority(released))
        self._drain()
        if self.open == 0 and not self.finished:
            self._finish()

    def _by_priority(self, keys: list[str]) -> list[str]:
        """Nodes that became ready together, highest priority first (stable).

        A free slot is granted to the first request at once, so without this
        a low-priority node listed first would jump ahead of its siblings.
        """
        if len(keys) > 1:
            nodes = self.plan.nodes
            keys.sort(key=lambda k: -nodes[k].priority)
        return keys

    # -- callbacks --------------------------------------------------------

    def _callback(self, node: PlanNode, fn: Callable[..., Any], *args: Any) -> None:
        """Run a user callback isolated from the task: errors are logged, never raised."""
        future = run_isolated(self.engine.loop, self.engine.executor, node.label, fn, *args)
        self.callbacks.add(future)
        future.add_done_callback(self.callbacks.discard)

    # -- the end ----------------------------------------------------------

    def _finish(self) -> None:
        self.finished = True
        if self._timeout_timer is not None:
            self._timeout_timer.cancel()
            self._timeout_timer = None
        failed = {k: r.error for k, r in self.tasks.items() if r.status == TaskStatus.FAILED}
        status, final, error = run_outcome(
            self.plan, failed, self.outputs, self.run.input_json, self._cancel
        )
        self.run.status, self.run.final_json, self.run.error = status, final, error
        self.run.ended_at = time.time()
        if self.trace is not None:
            tracer = trace_hooks.tracing()
            if tracer is not None:
                tracer.end_run(self.trace, status, error)
        if events.subscribers:
            self._emit("run_finished", None)
        update = RunUpdate(
            self.run_id, status, final, error, self.run.ended_at, _same_as(final, self.outputs)
        )
        self.engine.writer.add(
            run=update,
            event=EventRecord(
                self.run_id, "run_finished", self.run.ended_at, None, json.dumps({"status": status})
            ),
            then=self._resolve,
        )

    def _resolve(self) -> None:
        if self.callbacks:
            pending = list(self.callbacks)
            gathered = asyncio.gather(*pending, return_exceptions=True)
            gathered.add_done_callback(lambda _: self._resolve_now())
        else:
            self._resolve_now()

    def _resolve_now(self) -> None:
        result = self.result()
        logger.info(
            "run %s of %r finished: %s%s",
            self.run_id,
            self.plan.workflow_name,
            result.status,
            f" ({result.error_message})" if result.error_message else "",
            extra=task_fields(self.run_id),
        )
        self.engine.run_finished(self)
        if not self.future.done():
            self.future.set_result(result)

    def fail_unrecorded(self, exc: BaseException) -> None:
        """The journal refused our writes: stop, and report it to waiters.

        The run stays as last committed in the journal, so a later runner can
        resume it; nothing recorded is lost.
        """
        if self.future.done():
            return
        self.finished = True
        for running in list(self.running.values()):
            running.abandon()
        for timer in self.timers.values():
            timer.cancel()
        self.engine.run_finished(self)
        self.future.set_exception(exc)

    # -- reporting --------------------------------------------------------

    def result(self) -> WorkflowResult:
        return WorkflowResult.from_records(self.run, list(self.tasks.values()))

    def _write(
        self,
        record: TaskRecord,
        kind: str,
        data: dict[str, Any] | str | None = None,
        then: Callable[[], None] | None = None,
        lazy: bool = False,
    ) -> None:
        event = EventRecord(
            self.run_id,
            kind,
            time.time(),
            record.task_key,
            data if data is None or isinstance(data, str) else json.dumps(data),
        )
        self.engine.writer.add(task=record, event=event, then=then, lazy=lazy)
        if events.subscribers and kind in _EMITTED:
            self._emit(kind, record)

    def _emit(self, kind: str, record: TaskRecord | None) -> None:
        """Hand one lifecycle event to the subscribers: the one place events come from."""
        queued = None
        if record is not None and kind == "task_started":
            ready = self._ready_at.pop(record.task_key, None)
            queued = None if ready is None else max(0.0, time.time() - ready)
        events.emit(events.lifecycle_event(kind, self.run, self.plan, record, queued))


def _same_as(final: str | None, outputs: Mapping[str, str]) -> str | None:
    """The task whose output is the run's result text, if one is (a large result only).

    The journal then keeps one copy; for small results a second copy is cheaper
    than the lookup.
    """
    if final is None or len(final) < SHARED_RESULT_MIN:
        return None
    for key, output in outputs.items():
        if output is final or (len(output) == len(final) and output == final):
            return key
    return None


#: Results at least this long (characters) are stored once, as their task's output.
SHARED_RESULT_MIN = 16 * 1024
