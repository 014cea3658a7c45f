"""What follows ``ctx.next.wait(...)``: an event's handler, the timeout step, or suspension.

The choice is made once and committed before the chosen step runs (its
*started* row holds the consumed signal id, or the timeout), so a crash in
the middle of a handler re-runs the same handler with the same payload --
never another event, never the timeout instead.

Events are consumed in the order they were sent: the run keeps a cursor
(the highest signal id a step has consumed, read back from the step rows)
and takes the first later signal that has a handler. Signals sent before
the run waits are simply still in the inbox when it gets there. Signals
without a handler are accepted by ``send`` and passed over here: they stay
in the inbox (``event.ignored`` in the run's history) and never run a step.

When nothing is there yet the run suspends: the node's attempt ends and
gives its slot back, and the engine re-runs it at the deadline or when a
signal for it is recorded.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from taskloom.core.suspend import Suspend
from taskloom.journal.base import Journal
from taskloom.journal.records import TaskStatus
from taskloom.steps.directives import Directive, ErrorDetails
from taskloom.steps.journal import RecordedRun, RunWriter, step_key
from taskloom.steps.workflow import StepDefinition, Workflow, handler_arguments

logger = logging.getLogger("taskloom")

#: Name of the step row recorded when a wait times out with no ``on_timeout`` step.
TIMEOUT_STEP = "__wait_timeout__"

Next = tuple[StepDefinition | None, tuple[Any, ...], dict[str, Any]]


class WaitResolver:
    """Decides, durably, how a run continues after a wait directive."""

    def __init__(self, workflow: Workflow, workflow_id: str, journal: Journal) -> None:
        self.workflow = workflow
        self.workflow_id = workflow_id
        self.journal = journal
        #: Signals without a handler already reported (each is logged once per process).
        self._ignored: set[int] = set()

    async def resume(
        self,
        directive: Directive,
        deadline: float | None,
        index: int,
        cursor: int,
        recorded: RecordedRun,
        writer: RunWriter,
    ) -> Next:
        """The step to run as step ``index``; raises ``Suspend`` when it is not known yet."""
        entry = recorded.steps.get(index)
        if entry is not None:
            return self._recorded_choice(*entry)
        for signal in self.journal.get_signals(self.workflow_id, cursor):
            handler = self.workflow.events.get(signal.name)
            if handler is None:
                if signal.signal_id not in self._ignored:
                    self._ignored.add(signal.signal_id)
                    logger.warning(
                        "workflow %r: event %r has no @wf.event handler; ignored",
                        self.workflow_id,
                        signal.name,
                    )
                continue
            payload = json.loads(signal.payload_json)
            choice = {"signal": signal.signal_id, "event": signal.name, "payload": payload}
            await self._choose(index, handler, choice, recorded, writer)
            args, kwargs = handler_arguments(payload)
            return self.workflow.steps[handler], args, kwargs
        if deadline is not None and time.time() >= deadline:
            if directive.on_timeout is not None:
                await self._choose(index, directive.on_timeout, {"timeout": True}, recorded, writer)
                return self.workflow.steps[directive.on_timeout], (), {}
            await self._record_timeout_failure(index, directive, recorded, writer)
            return None, (), {}
        raise Suspend(deadline, f"workflow {self.workflow_id!r} waits for an event")

    def _recorded_choice(self, name: str, record: Any) -> Next:
        if record.status == TaskStatus.COMPLETED or name == TIMEOUT_STEP:
            return self.workflow.steps.get(name), (), {}
        choice = json.loads(record.output_json or "{}")
        args, kwargs = handler_arguments(choice.get("payload"))
        return self.workflow.steps[name], args, kwargs

    async def _choose(
        self,
        index: int,
        name: str,
        choice: dict[str, Any],
        recorded: RecordedRun,
        writer: RunWriter,
    ) -> None:
        record = writer.new_record(step_key(index, name), TaskStatus.PENDING)
        record.output_json = json.dumps(choice)
        kind = "event_received" if "signal" in choice else "wait_timed_out"
        await writer.commit(record, kind, {k: v for k, v in choice.items() if k != "payload"})
        recorded.steps[index] = (name, record)

    async def _record_timeout_failure(
        self, index: int, directive: Directive, recorded: RecordedRun, writer: RunWriter
    ) -> None:
        details = ErrorDetails(
            type="WaitTimeout",
            message=f"no event arrived within {directive.timeout:g} s and the wait "
            "has no on_timeout step",
        )
        record = writer.new_record(step_key(index, TIMEOUT_STEP), TaskStatus.COMPLETED)
        record.output_json = json.dumps(
            {"directive": Directive("fail", error=details).to_dict(), "store": {}}
        )
        record.started_at = record.ended_at = time.time()
        await writer.commit(record, "wait_timed_out", {"on_timeout": None})
        recorded.steps[index] = (TIMEOUT_STEP, record)
