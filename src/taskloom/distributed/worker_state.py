"""The state a distributed worker's halves share, declared once.

:class:`~taskloom.distributed.worker.Worker` owns this state and inherits
its two halves (:mod:`.claim_decisions`, :mod:`.attempt_results`); both read
and write it, so its declarations, the worker's timing constants and the
worker methods they call live here rather than in each half.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskloom.core.attempt import Attempt
from taskloom.core.plan import PlanNode
from taskloom.distributed.batch_commit import BatchCommit, Pending
from taskloom.distributed.deadlines import RunDeadlines
from taskloom.distributed.run_plans import RunPlans, Shape
from taskloom.journal.postgres_queue import TaskQueue
from taskloom.journal.queue_records import ClaimedTask

#: After a failed commit the batch is retried this much later (the fence keeps it safe).
COMMIT_RETRY_S = 1.0

#: Run inputs kept for speculated outcomes; a run missing here is finished the slow way.
MAX_INPUTS = 1024


class WorkerState:
    """What the Worker holds for both of its halves."""

    worker_id: str
    loop: asyncio.AbstractEventLoop
    queue: TaskQueue
    plans: RunPlans
    commits: BatchCommit
    deadlines: RunDeadlines
    running: dict[tuple[str, str], Attempt]
    _claims: dict[tuple[str, str], tuple[ClaimedTask, Shape]]
    _inputs: OrderedDict[str, str]
    _pending: list[Pending]
    _flush_scheduled: bool
    _draining: bool
    completed: int
    rejected: int

    if TYPE_CHECKING:  # provided by Worker

        def _poke(self) -> None: ...

        def _maybe_done(self) -> None: ...

        def _wake_later(self, delay: float) -> None: ...

        def _callback(self, node: PlanNode, fn: Callable[..., Any], *args: Any) -> None: ...
