"""Retry, cancel and adopt any recorded run, whoever executes it.

These work on a run id alone, for every style and backend, from any
process that can open the journal (the CLI, a dashboard, a script):

* :func:`retry_run` -- a new attempt of a failed or cancelled run
  (:mod:`taskloom.core.retrying` says which rows restart). The run becomes
  Running without an owner, so any runner that serves its workflow version
  resumes it, as after a crash; a distributed run's restarted tasks go back
  to the queue. If this process has an engine on that database, it resumes
  the run at once.
* :func:`cancel_run` -- the engine of this process that executes it, the
  queue for a distributed run, a cancel request for a run another live
  process executes (carried out at its next maintenance tick), or, for an
  orphaned run, the cancel recorded directly.
* :func:`adopt_run` -- an orphaned run moved onto the version of its
  workflow this process defines (:mod:`taskloom.core.adoption`).

Every change is recorded in the journal (``run_retried``, ``task_reset``,
``run_adopted``, ``run_finished`` events) the same way whoever asked.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from taskloom.core import adoption, retrying, shapes, styles
from taskloom.core.engine import Engine, live_engines
from taskloom.core.liveness import HOSTNAME, runner_alive
from taskloom.core.orphans import orphaned_local_runs
from taskloom.core.styles import PlanHost
from taskloom.errors import RunNotFoundError, RunStateError
from taskloom.journal.base import Journal
from taskloom.journal.records import (
    Batch,
    EventRecord,
    Reopening,
    RunnerRecord,
    RunRecord,
    RunStatus,
    RunUpdate,
    TaskRecord,
    TaskStatus,
)
from taskloom.journal.urls import is_postgres_url, open_journal, resolve_url

#: Seconds without a heartbeat after which a runner on another host counts as gone.
DEFAULT_LEASE = 10.0


def masked(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return url
    return url.replace(f":{password}@", ":***@", 1) if password else url


@dataclass(slots=True)
class _Host:
    """What a planner needs of the process that checks an adoption (no engine here)."""

    journal: Journal
    task_timeout: float | None = None


@contextlib.contextmanager
def _opened(url: str) -> Iterator[Journal]:
    """A live engine's journal on ``url``, or a journal opened for the call."""
    engines = live_engines(url)
    if engines:
        yield engines[0].journal
        return
    journal = open_journal(url)
    try:
        yield journal
    finally:
        journal.close()


def _require(journal: Journal, run_id: str, url: str) -> RunRecord:
    if not isinstance(run_id, str) or not run_id.strip():
        raise ValueError(f"run_id={run_id!r}: give the id of a recorded run (taskloom runs)")
    run = journal.get_run(run_id)
    if run is None:
        raise RunNotFoundError(
            f"no run with id {run_id!r} in {masked(url)}; list run ids with 'taskloom runs'"
        )
    return run


def _distributed(journal: Journal, run_id: str) -> bool:
    if not is_postgres_url(journal.url):
        return False
    from taskloom.journal.postgres import PostgresJournal
    from taskloom.journal.postgres_reopen import is_distributed

    return isinstance(journal, PostgresJournal) and is_distributed(journal, run_id)


def _resume_here(url: str, run_id: str) -> None:
    """Let an engine of this process on ``url`` resume the run now, if one can."""
    for engine in live_engines(url):
        if engine.enable_recovery:
            engine.call(engine.recover).result(timeout=30)
            if run_id in engine.active:
                return


# -- retry ----------------------------------------------------------------------


def retry_run(run_id: str, *, database_url: str | None = None) -> None:
    """Start a new attempt of a failed or cancelled run, reusing its completed outputs.

    Raises ``RunNotFoundError`` for an unknown id and ``RunStateError`` for a
    run that is running or completed.
    """
    url = resolve_url(database_url)
    with _opened(url) as journal:
        run = _require(journal, run_id, url)
        if run.status == RunStatus.RUNNING:
            raise RunStateError(
                f"run {run_id} of {run.workflow_name!r} is still running; only a failed or "
                f"cancelled run can be retried (cancel it first: taskloom cancel {run_id})"
            )
        if run.status == RunStatus.COMPLETED:
            raise RunStateError(
                f"run {run_id} of {run.workflow_name!r} completed; there is nothing to retry "
                "(start a new run instead)"
            )
        records = journal.get_tasks(run_id)
        rows = retrying.retry_rows(run.kind, records)
        events = retrying.retry_events(run_id, run.status, run.error, records, rows)
        if _distributed(journal, run_id):
            from taskloom.journal.postgres import PostgresJournal
            from taskloom.journal.postgres_reopen import reopen

            assert isinstance(journal, PostgresJournal)
            try:
                done = reopen(journal, run, rows, events, _queue_deps(journal, run, rows))
            except LookupError:
                raise RunStateError(
                    f"run {run_id} of {run.workflow_name!r}: its graph was not recorded and "
                    "this process does not define its workflow version; retry it from a "
                    "process that imports the workflow"
                ) from None
        else:
            done = journal.reopen_run(
                Reopening(run_id, run.status, run.workflow_version, rows, events)
            )
        if not done:
            raise RunStateError(f"run {run_id} changed while it was being retried; look again")
    _resume_here(url, run_id)


def _queue_deps(
    journal: Journal, run: RunRecord, rows: list[TaskRecord]
) -> dict[str, list[str]] | None:
    """Each row's dependencies, from the graph recorded when the run started (None:
    unknown -- enough for a run with one queue row, like a step run's driver).

    Calls of a dynamic ``fan_out`` (``fetch#2[0]``) depend on the fan-out's
    upstream; the fan-out's own node, once expanded, waits for its calls.
    """
    keys = [r.task_key for r in sorted(rows, key=lambda r: r.seq)]
    found = [
        s
        for s in shapes.recorded_shapes(journal, run.kind, run.workflow_name, run.workflow_version)
        if list(s) == keys[: len(s)]
    ]
    if not found:
        planner = styles.planner_for(run.kind)
        plan = planner(run, _Host(journal)) if planner is not None else None
        return shapes.shape_of(plan) if plan is not None else None
    deps = dict(found[0])
    for key in keys:
        base, sep, _ = key.rpartition("[")
        if sep and base in found[0] and key not in deps:
            deps[key] = list(found[0][base])
            deps[base] = [*[d for d in deps[base] if d not in found[0][base]], key]
    return deps


# -- cancel ---------------------------------------------------------------------


def cancel_run(
    run_id: str,
    *,
    database_url: str | None = None,
    reason: str = "cancelled by request",
    wait: float = 10.0,
) -> bool:
    """Cancel a run, whoever executes it; False if it had already ended.

    A run another live process executes is cancelled by that process at its
    next maintenance tick (about a second); this waits up to ``wait``
    seconds for it and returns True once it is asked, even if it is slower.
    """
    url = resolve_url(database_url)
    for engine in live_engines(url):
        if engine.cancel(run_id, reason):
            return True
    with _opened(url) as journal:
        run = _require(journal, run_id, url)
        if run.status in RunStatus.TERMINAL:
            return False
        if _distributed(journal, run_id):
            from taskloom.journal.postgres import PostgresJournal
            from taskloom.journal.postgres_queue import TaskQueue

            assert isinstance(journal, PostgresJournal)
            return TaskQueue(journal).cancel_run(run_id, reason)
        for _ in range(10):  # an orphan may be taken over while we look: look again
            owner = _live_owner(journal, run)
            if owner is not None:
                journal.request_cancel(run_id, reason, time.time())
                return _await_end(journal, run_id, wait)
            if _cancel_orphan(journal, run, reason):
                return True
            fresh = journal.get_run(run_id)
            if fresh is None or fresh.status in RunStatus.TERMINAL:
                return False
            run = fresh
    raise RunStateError(f"run {run_id} changed owner repeatedly while being cancelled; try again")


def _live_owner(journal: Journal, run: RunRecord) -> RunnerRecord | None:
    if run.owner_id is None:
        return None
    for runner in journal.list_runners():
        if runner.runner_id == run.owner_id and runner_alive(runner, DEFAULT_LEASE):
            return runner
    return None


def _await_end(journal: Journal, run_id: str, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        run = journal.get_run(run_id)
        if run is None or run.status in RunStatus.TERMINAL:
            return run is not None and run.status == RunStatus.CANCELLED
        time.sleep(0.05)
    return True


def _cancel_orphan(journal: Journal, run: RunRecord, reason: str) -> bool:
    """Record the cancel of a run nobody executes, owning it meanwhile (so no runner
    resumes it under our feet)."""
    me = f"{HOSTNAME}:{os.getpid()}:cancel:{uuid.uuid4().hex[:8]}"
    now = time.time()
    journal.register_runner(RunnerRecord(me, HOSTNAME, os.getpid(), now, now))
    try:
        if not journal.claim_run(run.run_id, me, run.owner_id):
            return False
        tasks: list[TaskRecord] = []
        for record in journal.get_tasks(run.run_id):
            if record.status not in TaskStatus.TERMINAL:
                record.status = TaskStatus.CANCELLED
                record.ended_at = now
                tasks.append(record)
        data = '{"status":"Cancelled","reason":' + _json(reason) + "}"
        journal.write(
            Batch(
                tasks=tasks,
                events=[EventRecord(run.run_id, "run_finished", now, None, data)],
                runs=[RunUpdate(run.run_id, RunStatus.CANCELLED, None, reason, now)],
            )
        )
        return True
    finally:
        journal.unregister_runner(me)


def _json(text: str) -> str:
    import json

    return json.dumps(text)


# -- adopt ----------------------------------------------------------------------


def adopt_run(run_id: str, *, database_url: str | None = None) -> None:
    """Move an orphaned run onto the version of its workflow this process defines.

    Raises ``AdoptionRefused`` naming every difference when a completed task
    no longer exists or its dependencies changed, ``RunStateError`` when the
    run is not running or a live process executes it.
    """
    url = resolve_url(database_url)
    with _opened(url) as journal:
        run = _require(journal, run_id, url)
        if run.status != RunStatus.RUNNING:
            raise RunStateError(
                f"run {run_id} of {run.workflow_name!r} is {run.status}; only a running run "
                f"can be adopted (retry it first: taskloom retry {run_id})"
            )
        if _distributed(journal, run_id):
            adopt_distributed(journal, run, _host_for(url, journal), by="api")
            return
        owner = _live_owner(journal, run)
        if owner is not None:
            raise RunStateError(
                f"run {run_id} is executed by live runner {owner.runner_id}; it is not orphaned"
            )
        records = journal.get_tasks(run_id)
        adopted = adoption.prepare(run, records, _host_for(url, journal), by="api")
        done = journal.reopen_run(
            Reopening(
                run_id,
                RunStatus.RUNNING,
                adopted.version,
                adopted.tasks,
                adopted.events,
                check_owner=True,
                from_owner=run.owner_id,
            )
        )
        if not done:
            raise RunStateError(f"run {run_id} changed while it was being adopted; look again")
    _resume_here(url, run_id)


def adopt_distributed(journal: Journal, run: RunRecord, host: PlanHost, by: str) -> None:
    """Adopt a distributed run: its rows rewritten for the new version's workers."""
    from taskloom.journal.postgres import PostgresJournal
    from taskloom.journal.postgres_reopen import QueueShape, adopt

    assert isinstance(journal, PostgresJournal)
    adopted = adoption.prepare(run, journal.get_tasks(run.run_id), host, by=by)
    plan = adopted.plan
    limits = plan.group_limits
    queue_shape = {
        key: QueueShape(
            node.deps,
            node.priority,
            node.group,
            limits.get(node.group) if node.group is not None else None,
        )
        for key, node in plan.nodes.items()
    }
    refused = adopt(
        journal,
        run,
        adopted.version,
        adopted.tasks,
        adopted.events,
        queue_shape,
        getattr(plan, "max_concurrency", None),
    )
    if refused is not None:
        raise RunStateError(f"cannot adopt run {run.run_id}: {refused}")


def _host_for(url: str, journal: Journal) -> Engine | _Host:
    engines = live_engines(url)
    return engines[0] if engines else _Host(journal)


# -- listing ----------------------------------------------------------------------


@dataclass(slots=True)
class OrphanedRun:
    """A run nothing executes, and why."""

    run: RunRecord
    reason: str


def orphaned_runs(
    database_url: str | None = None, *, lease: float = DEFAULT_LEASE
) -> list[OrphanedRun]:
    """Running runs that nothing executes: their owner is gone (local runs), or a task
    of theirs has waited ``lease`` seconds for a worker (distributed runs)."""
    url = resolve_url(database_url)
    with _opened(url) as journal:
        found = [OrphanedRun(run, why) for run, why in orphaned_local_runs(journal, lease)]
        if is_postgres_url(url):
            from taskloom.journal.postgres import PostgresJournal
            from taskloom.journal.postgres_reopen import stalled_runs

            if isinstance(journal, PostgresJournal):
                for run, count in stalled_runs(journal, lease):
                    why = f"{count} task(s) waited over {lease:g} s for a worker of its version"
                    found.append(OrphanedRun(run, why))
    found.sort(key=lambda o: o.run.created_at)
    return found
