"""How a worker records a batch of completions: one transaction, usually one round trip.

Everything a worker learned in one loop turn -- outcomes, dependents
released, runs ended, rows a dynamic ``fan_out`` adds, parents woken -- goes
to PostgreSQL in one transaction of :class:`BatchCommit`, which knows the
queue's statements and the plans but nothing of slots, timers or attempts
(those stay in :mod:`taskloom.distributed.worker`).

* **One round trip** (:meth:`BatchCommit.one_trip`): every statement and the
  COMMIT pipelined, nothing read before the commit; each run whose result
  rows the batch ends has its outcome computed in advance
  (:meth:`BatchCommit.speculate`) and checked in SQL.
* **Two round trips** (:meth:`BatchCommit.two_trips`): when a completion
  stops its run (``fail_fast``), or a run ends without a valid speculation
  (SQLSTATE TL001 aborts the first try).
* **Retries**: a failed commit is sent again with the very same batch; the
  fence and the ``xmin`` test make a re-sent batch count nothing twice, and
  :meth:`BatchCommit.recorded_earlier` tells which completions of a retried
  batch an earlier commit (whose answer was lost) did record.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from taskloom.core.decisions import carries_output, run_outcome
from taskloom.distributed import growth
from taskloom.distributed.run_plans import RunPlans, Shape
from taskloom.errors import JournalError
from taskloom.journal.postgres_children import send_wake_parents
from taskloom.journal.postgres_queue import TaskQueue
from taskloom.journal.queue_records import UNSETTLED, Completion, FinishedCount, Speculation
from taskloom.journal.records import EventRecord, RunStatus, TaskStatus

logger = logging.getLogger("taskloom")


@dataclass(slots=True)
class Pending:
    """A completion waiting for the next group commit, with what follows it.

    ``shape`` is None only for a task whose run this worker could not plan;
    ``stop`` (a reason) ends the whole run with it (fail_fast, unplannable);
    ``grown``: the rows the completion adds to its run (a dynamic fan_out),
    kept here so that a retried commit sends the very same rows;
    ``retried``: an earlier commit of it failed -- or only seemed to, when
    the answer to its COMMIT was lost.
    """

    completion: Completion
    shape: Shape | None
    after: Callable[[], None] | None
    stop: str | None = None
    grown: growth.Grown | None = None
    retried: bool = False

    @property
    def dependents(self) -> Sequence[str]:
        if self.grown is not None:
            return self.grown.released
        if self.shape is None:
            return ()
        return self.shape.dependents[self.completion.task_key]


class BatchCommit:
    """Records a worker's batches of completions in the queue's tables."""

    def __init__(
        self, queue: TaskQueue, plans: RunPlans, inputs: OrderedDict[str, str], worker_id: str
    ) -> None:
        """``inputs``: the worker's recent run inputs (shared, not copied), for speculation."""
        self.queue = queue
        self.plans = plans
        self._inputs = inputs
        self.worker_id = worker_id

    def recorded_earlier(
        self, batch: list[Pending], accepted: set[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Retried completions that a commit whose answer was lost did record.

        The retry is rightly rejected (its fence is spent) and counts nothing
        twice, but it is no late completion: its callbacks still run.
        """
        doubtful = [
            item.completion
            for item in batch
            if item.retried and (item.completion.run_id, item.completion.task_key) not in accepted
        ]
        if not doubtful:
            return set()
        try:
            return self.queue.recorded(doubtful)
        except Exception:
            logger.exception("taskloom worker %s could not check a retried commit", self.worker_id)
            return set()

    def commit(self, batch: list[Pending]) -> tuple[set[tuple[str, str]], int]:
        """One transaction: fenced outcomes, released dependents, finished runs, events.

        In one round trip when no completion stops its run; if the batch ends
        a run whose outcome could not be computed in advance, that
        transaction aborts and the batch is recorded in two round trips.
        """
        if not any(item.stop is not None for item in batch):
            try:
                return self.one_trip(batch)
            except JournalError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != UNSETTLED:
                    raise
        return self.two_trips(batch)

    def speculate(self, batch: list[Pending]) -> list[Speculation]:
        """The outcome of each run whose result rows are all ended by this batch, in case
        the batch ends the run (the commit checks that no other task of it failed)."""
        by_run: dict[str, list[Completion]] = {}
        shapes: dict[str, Shape] = {}
        for item in batch:
            c = item.completion
            if item.shape is not None and c.status in TaskStatus.TERMINAL:
                by_run.setdefault(c.run_id, []).append(c)
                shapes[c.run_id] = item.shape
        specs: list[Speculation] = []
        for run_id, done in by_run.items():
            shape = shapes[run_id]
            run_input = self._inputs.get(run_id)
            if run_input is None or not set(shape.result_keys) <= {c.task_key for c in done}:
                continue
            failed = {c.task_key: c.error for c in done if c.status == TaskStatus.FAILED}
            outputs = {
                c.task_key: c.output_json
                for c in done
                if carries_output(c.status, c.output_json) and c.output_json is not None
            }
            status, final, error = run_outcome(shape.plan, failed, outputs, run_input)
            specs.append(Speculation(run_id, status, final, error, len(failed)))
        return specs

    def one_trip(self, batch: list[Pending]) -> tuple[set[tuple[str, str]], int]:
        """Every statement and the COMMIT in one pipeline; nothing is read before the commit."""
        queue = self.queue
        completions = [p.completion for p in batch]
        edges = sorted(
            (c.run_id, child, c.task_key, c.fence)
            for item in batch
            if (c := item.completion).status in TaskStatus.TERMINAL
            for child in item.dependents
        )
        ended = [
            (c.run_id, c.task_key, c.fence) for c in completions if c.status in TaskStatus.TERMINAL
        ]
        specs = self.speculate(batch)
        growths = [g for item in batch if item.grown is not None for g in item.grown.growths]
        with queue.recording() as conn:
            completed = queue.send_complete(conn, self.worker_id, completions)
            releasing = queue.send_release_notify(conn, edges)
            queue.send_events_accepted(conn, completions)
            finishing = queue.send_close_finish(conn, ended, specs)
            send_wake_parents(conn, _ended_step_runs(batch), queue.ready_channel)
            # After the runs are locked; a run that grows cannot end in this batch
            # (its collectors are still open), so closing before growing is right.
            growing = queue.send_grow(conn, growths)
            queue.send_sweep_ended(conn, [e[0] for e in ended])
        accepted, _ = queue.accepted(completed)
        newly_ready = _count(releasing) + _count(growing)
        if finishing is not None:
            for run_id, finished in finishing.fetchall():
                if finished:
                    self.plans.forget(run_id)
                    self._inputs.pop(run_id, None)
                    logger.info("run %s finished", run_id)
        return accepted, newly_ready

    def two_trips(self, batch: list[Pending]) -> tuple[set[tuple[str, str]], int]:
        """The general commit: read the result rows of the runs that end, then finish them."""
        queue = self.queue
        with queue.recording() as conn:
            # Round trip 1: the fenced outcomes, the dependents and the runs'
            # counters, sent together; the later statements count only the
            # completions the first one accepted (their rows carry the fence).
            edges: list[tuple[str, str, str, int]] = []
            ended: list[tuple[str, str, int]] = []
            for item in batch:
                c = item.completion
                if item.stop is None and c.status in TaskStatus.TERMINAL:
                    ended.append((c.run_id, c.task_key, c.fence))
                    edges.extend(
                        (c.run_id, child, c.task_key, c.fence) for child in item.dependents
                    )
            edges.sort()
            shapes = {i.completion.run_id: i.shape for i in batch if i.shape is not None}
            wanted = [
                (run_id, key)
                for run_id in dict.fromkeys(e[0] for e in ended)
                for key in shapes[run_id].result_keys
            ]
            completed = queue.send_complete(conn, self.worker_id, [p.completion for p in batch])
            releasing = queue.release_accepted(conn, edges)
            closing = queue.send_close(conn, ended, wanted)
            growing = queue.send_grow(
                conn, [g for item in batch if item.grown is not None for g in item.grown.growths]
            )
            accepted, now = queue.accepted(completed)
            newly_ready = (
                sum(1 for (status,) in releasing.fetchall() if status == "Ready")
                if releasing is not None
                else 0
            ) + _count(growing)
            events: list[EventRecord] = []
            stopping: dict[str, tuple[Shape | None, str]] = {}
            for item in batch:
                c = item.completion
                if (c.run_id, c.task_key) not in accepted:
                    continue
                events.append(EventRecord(c.run_id, c.event_kind, now, c.task_key, c.event_data))
                if item.stop is not None:
                    stopping.setdefault(c.run_id, (item.shape, item.stop))
            # Round trip 2: events, finished runs (their run_finished events
            # after the tasks'), notifications and the commit.
            queue.insert_events(conn, events)
            for finished, rows in queue.closed(closing):
                self.finish(conn, finished, shapes.get(finished.run_id), None, rows)
            for run_id, (shape, reason) in sorted(stopping.items()):
                stopped = queue.stop_run(conn, run_id)
                if stopped is not None:
                    rows = (
                        queue.outcome_rows(conn, run_id, shape.result_keys)
                        if shape is not None
                        else []
                    )
                    self.finish(conn, stopped, shape, reason, rows)
            queue.send_sweep_ended(conn, [e[0] for e in ended] + list(stopping))
            send_wake_parents(conn, _ended_step_runs(batch), queue.ready_channel)
            if newly_ready:
                queue.notify(conn, queue.ready_channel)
        return accepted, newly_ready

    def finish(
        self,
        conn: Any,
        finished: FinishedCount,
        shape: Shape | None,
        stop_reason: str | None,
        rows: list[tuple[str, str, str | None, str | None]],
    ) -> None:
        """Record a run's end (inside the commit) from its failed and result rows."""
        if shape is None:
            status, final, error = RunStatus.FAILED, finished.input_json, stop_reason
        else:
            if shape.plan.grows:
                rows = growth.catch_up(
                    shape.plan,
                    rows,
                    lambda keys: self.queue.outcome_rows(conn, finished.run_id, keys),
                )
            failed = {key: error for key, status, _, error in rows if status == "Failed"}
            outputs = {
                key: output
                for key, status, output, _ in rows
                if carries_output(status, output) and output is not None
            }
            stopped = None if stop_reason is None else (RunStatus.FAILED, stop_reason)
            status, final, error = run_outcome(
                shape.plan, failed, outputs, finished.input_json, stopped
            )
        self.plans.forget(finished.run_id)
        self._inputs.pop(finished.run_id, None)
        # Already ended (a concurrent cancel): the statement changes nothing.
        self.queue.finish_run_notify(conn, finished.run_id, status, final, error)
        logger.info("run %s of %r finished: %s", finished.run_id, finished.workflow_name, status)


def _ended_step_runs(batch: list[Pending]) -> list[str]:
    """The step runs this batch may end: a parent may wait for one (children wake parents
    in the commit that ends them)."""
    return sorted(
        {
            p.completion.run_id
            for p in batch
            if p.completion.status in TaskStatus.TERMINAL
            and (p.shape is None or p.shape.plan.may_have_parent)
        }
    )


def _count(cursor: Any) -> int:
    """The first column of a statement's single row (how many tasks became ready)."""
    if cursor is None:
        return 0
    row = cursor.fetchone()
    return int(row[0]) if row else 0
