"""Group-commit of journal writes, one transaction per event-loop turn.

Everything the scheduler records while handling one turn of the loop
(several tasks finishing together, their dependents starting) goes into one
batch; continuations -- the work that must only happen once those records
are durable, such as starting a dependent task -- run after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from taskloom.errors import ClaimLostError
from taskloom.journal.base import Journal
from taskloom.journal.records import Batch, EventRecord, RunUpdate, TaskRecord

logger = logging.getLogger("taskloom")


class JournalWriter:
    """Buffers records and commits them in one ``Journal.write`` per loop turn."""

    def __init__(
        self,
        journal: Journal,
        loop: asyncio.AbstractEventLoop,
        on_error: Callable[[BaseException, Batch], None],
        write: Callable[[Batch], None] | None = None,
    ) -> None:
        """``write``: how a batch is committed, instead of ``journal.write`` (a worker
        writes step rows only under the claims it still holds)."""
        self._journal = journal
        self._write = write or journal.write
        self._loop = loop
        self._on_error = on_error
        self._tasks: dict[tuple[str, str], TaskRecord] = {}
        self._events: list[EventRecord] = []
        self._runs: list[RunUpdate] = []
        self._then: list[Callable[[], None]] = []
        self._scheduled = False
        #: Depth of :meth:`hold`; while held, a commit waits for :meth:`release`.
        self._held = 0
        #: A commit was asked for while held: :meth:`release` does it inline.
        self._deferred = False
        self._lazy_timer: asyncio.TimerHandle | None = None
        #: ``loop.time()`` when the oldest uncommitted lazy record was added.
        self._lazy_since: float | None = None
        #: Longest time a lazy record waits for a commit to ride along with.
        self.lazy_delay = 0.05

    def add(
        self,
        task: TaskRecord | None = None,
        event: EventRecord | None = None,
        run: RunUpdate | None = None,
        then: Callable[[], None] | None = None,
        lazy: bool = False,
    ) -> None:
        """Queue records; ``then`` runs after they are committed.

        A task record is written in the state it has at commit time, so
        adding the same record twice in one turn writes it once. ``lazy``
        records (a task *starting*) need not be durable before anything
        else happens: they ride along with the next commit, or are written
        after ``lazy_delay`` seconds at the latest, so a task's start costs
        no commit of its own.
        """
        if task is not None:
            self._tasks[(task.run_id, task.task_key)] = task
        if event is not None:
            self._events.append(event)
        if run is not None:
            self._runs.append(run)
        if then is not None:
            self._then.append(then)
        if lazy:
            if self._lazy_since is None:
                self._lazy_since = self._loop.time()
                # One timer at a time, kept across commits (no call_later and
                # cancel per task start): when it fires it re-arms for the
                # oldest lazy record still waiting, if any.
                if self._lazy_timer is None:
                    self._lazy_timer = self._loop.call_later(self.lazy_delay, self._lazy_due)
        elif not self._scheduled:
            self._scheduled = True
            if self._held:
                self._deferred = True
            else:
                self._loop.call_soon(self.flush)

    def hold(self) -> None:
        """Defer commits until :meth:`release`: batch a burst of records in one commit."""
        self._held += 1

    def release(self) -> None:
        """End a :meth:`hold`; commit now (inline, no extra loop turn) if asked for."""
        self._held -= 1
        if not self._held and self._deferred:
            self.flush()

    def _lazy_due(self) -> None:
        self._lazy_timer = None
        since = self._lazy_since
        if since is None:
            return  # committed meanwhile; the next lazy record arms a timer again
        left = since + self.lazy_delay - self._loop.time()
        if left > 0:
            self._lazy_timer = self._loop.call_later(left, self._lazy_due)
        else:
            self.flush()

    def flush(self) -> None:
        """Commit what is queued, then run the continuations in order."""
        self._scheduled = False
        self._deferred = False
        self._lazy_since = None
        batch = Batch(list(self._tasks.values()), self._events, self._runs)
        continuations = self._then
        self._tasks, self._events, self._runs, self._then = {}, [], [], []
        if batch:
            try:
                self._write(batch)
            except ClaimLostError as exc:
                logger.warning("taskloom did not write: %s", exc)
                self._on_error(exc, batch)
                return
            except Exception as exc:
                logger.critical("taskloom could not write to its journal: %s", exc, exc_info=True)
                self._on_error(exc, batch)
                return
        for continuation in continuations:
            try:
                continuation()
            except Exception:
                logger.exception("taskloom internal error after a journal commit")
