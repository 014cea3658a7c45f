"""How a step run is laid out in the journal, and how it is read back.

A step run is one journal run of kind ``"steps"`` with one scheduler node
(the driver) plus rows of its own in ``task_runs``:

* ``s003:charge`` -- step execution 3 ran handler ``charge``; when completed
  its output holds the directive *and* the store updates, one row, so a step
  is recorded atomically or not at all;
* ``s003.0001#ab12cd34ef56:charge_payment`` -- the second operation called in
  that step: task name, position (order of call) and a hash of its
  arguments. Together they are the deterministic operation id replay uses.

No new tables are needed: ``task_runs`` already holds status, attempt,
next retry time, output and error per key.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from taskloom.journal.records import EventRecord, TaskRecord

if TYPE_CHECKING:
    from taskloom.core.writer import JournalWriter
    from taskloom.journal.base import Journal

#: Run kind of step workflows in the journal (re-exported by ``plan``).
KIND = "steps"
#: Recorded versions are checked by replay (NonDeterminismError), not by a hash.
VERSION = "1"

#: Key of the scheduler node that drives the steps.
DRIVER_KEY = "workflow"
#: Key of the row naming a child run's parent (recorded with the run; see ``send_to_parent``).
PARENT_KEY = "__parent__"

_STEP = re.compile(r"^s(\d+):(.*)$", re.DOTALL)
_OP = re.compile(r"^s(\d+)\.(\d+)#([0-9a-f]+):(.*)$", re.DOTALL)


#: Key prefix of the row that records a ``ctx.patched(change_id)`` decision.
PATCH_PREFIX = "patch:"


def step_key(index: int, name: str) -> str:
    return f"s{index:03d}:{name}"


def args_digest(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A stable hash of a call's arguments (part of the operation id)."""
    text = json.dumps([list(args), kwargs], sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def op_key(index: int, position: int, digest: str, name: str) -> str:
    return f"s{index:03d}.{position:04d}#{digest}:{name}"


@dataclass(slots=True)
class RecordedOp:
    digest: str
    name: str
    record: TaskRecord


@dataclass(slots=True)
class RecordedRun:
    """What the journal holds of a step run, indexed for replay."""

    steps: dict[int, tuple[str, TaskRecord]] = field(default_factory=dict)
    ops: dict[tuple[int, int], RecordedOp] = field(default_factory=dict)
    max_seq: int = 0
    #: The workflow id of the run that started this one (a local child), if any.
    parent: str | None = None
    #: ``ctx.patched(change_id)`` decisions of the run (``patch:<id>`` rows).
    patches: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def load(cls, records: list[TaskRecord]) -> RecordedRun:
        recorded = cls()
        for record in records:
            recorded.max_seq = max(recorded.max_seq, record.seq)
            if record.task_key == PARENT_KEY:
                recorded.parent = json.loads(record.output_json or "{}").get("parent")
                continue
            match = _OP.match(record.task_key)
            if match:
                index, position, digest, name = match.groups()
                recorded.ops[(int(index), int(position))] = RecordedOp(digest, name, record)
                continue
            match = _STEP.match(record.task_key)
            if match:
                recorded.steps[int(match.group(1))] = (match.group(2), record)
                continue
            if record.task_key.startswith(PATCH_PREFIX):
                change_id = record.task_key[len(PATCH_PREFIX) :]
                recorded.patches[change_id] = record.output_json == "true"
        return recorded

    def ops_of_step(self, index: int) -> int:
        return sum(1 for (i, _) in self.ops if i == index)


@runtime_checkable
class StepHost(Protocol):
    """What a step run needs of the process executing it.

    A local :class:`~taskloom.core.engine.Engine` or a distributed
    :class:`~taskloom.distributed.worker.Worker`: an event loop to drive the
    steps on, a thread pool for sync operations, a group-committing writer
    for the step and operation rows, and the journal to replay from.
    """

    @property
    def journal(self) -> Journal: ...

    @property
    def task_timeout(self) -> float | None: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def executor(self) -> concurrent.futures.Executor: ...

    @property
    def writer(self) -> JournalWriter: ...


class RunWriter:
    """Writes a step run's rows through the host's group-committing writer."""

    def __init__(self, engine: StepHost, run_id: str, first_seq: int) -> None:
        self.engine = engine
        self.run_id = run_id
        self._seq = first_seq

    def new_record(self, key: str, status: str) -> TaskRecord:
        self._seq += 1
        return TaskRecord(self.run_id, key, status, seq=self._seq)

    def save(self, record: TaskRecord, kind: str, data: dict[str, Any] | None = None) -> None:
        """Queue ``record`` (and an event); durable with the next commit."""
        event = EventRecord(
            self.run_id, kind, time.time(), record.task_key, json.dumps(data) if data else None
        )
        self.engine.writer.add(task=record, event=event, lazy=True)

    async def commit(
        self, record: TaskRecord, kind: str, data: dict[str, Any] | None = None
    ) -> None:
        """Write ``record`` and return once it is durable."""
        done: asyncio.Future[None] = self.engine.loop.create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        event = EventRecord(
            self.run_id, kind, time.time(), record.task_key, json.dumps(data) if data else None
        )
        self.engine.writer.add(task=record, event=event, then=resolve)
        await done
