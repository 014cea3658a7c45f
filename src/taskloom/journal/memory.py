"""A journal that lives in the process's memory.

For tests of user code and for runs that need no durability: same semantics
as the SQLite journal, nothing survives the process.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

from taskloom.journal.base import Journal
from taskloom.journal.browse import Cursor, RunFilter, WorkflowStats
from taskloom.journal.records import (
    Batch,
    EventRecord,
    Reopening,
    RunnerRecord,
    RunRecord,
    RunStatus,
    SignalRecord,
    TaskRecord,
    TaskStatus,
)


class MemoryJournal(Journal):
    """Dict-backed journal; every method copies records in and out."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._tasks: dict[str, dict[str, TaskRecord]] = {}
        self._events: dict[str, list[EventRecord]] = {}
        self._runners: dict[str, RunnerRecord] = {}
        self._next_event_id = 1
        self._signals: list[SignalRecord] = []
        self._cache: dict[str, tuple[str, float]] = {}
        self._shapes: dict[tuple[str, str, str], dict[str, str]] = {}
        self._cancels: dict[str, str] = {}

    def create_run(self, run: RunRecord, tasks: Sequence[TaskRecord]) -> None:
        with self._lock:
            if run.run_id in self._runs:
                raise ValueError(f"run {run.run_id!r} already exists")
            self._runs[run.run_id] = dataclasses.replace(run)
            self._tasks[run.run_id] = {t.task_key: dataclasses.replace(t) for t in tasks}
            self._events[run.run_id] = []

    def write(self, batch: Batch) -> None:
        with self._lock:
            # Look everything up before changing anything, so that a failure
            # leaves the journal as it was (all of a batch or none of it).
            run_updates = [(self._runs.get(r.run_id), r) for r in batch.runs]
            statuses = [(t.run_id, t.status) for t in batch.tasks]
            statuses += [(r.run_id, r.status) for r in batch.runs]
            for run_id, status in statuses:
                if not status:
                    raise ValueError(f"record for run {run_id!r} has no status")
            for t in batch.tasks:
                rows = self._tasks.setdefault(t.run_id, {})
                old = rows.get(t.task_key)
                new = dataclasses.replace(t, deaths=0)
                if old is not None:
                    new.seq = old.seq
                    if new.status in (TaskStatus.RUNNING, TaskStatus.PENDING):
                        new.deaths = old.deaths  # as the SQL journals' upsert_task
                rows[t.task_key] = new
            for e in batch.events:
                stored = dataclasses.replace(e, event_id=self._next_event_id)
                self._next_event_id += 1
                self._events.setdefault(e.run_id, []).append(stored)
            for run, r in run_updates:
                if run is None:
                    continue
                run.status = r.status
                if r.final_json is not None:
                    run.final_json = r.final_json
                run.error = r.error
                run.ended_at = r.ended_at

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            run = self._runs.get(run_id)
            return dataclasses.replace(run) if run else None

    def list_runs(self, limit: int = 20, status: str | None = None) -> list[RunRecord]:
        with self._lock:
            runs = [r for r in self._runs.values() if status is None or r.status == status]
        runs.reverse()
        runs.sort(key=lambda r: r.created_at, reverse=True)
        return [dataclasses.replace(r) for r in runs[:limit]]

    def get_tasks(self, run_id: str) -> list[TaskRecord]:
        with self._lock:
            rows = list(self._tasks.get(run_id, {}).values())
        rows.sort(key=lambda t: t.seq)
        return [dataclasses.replace(t) for t in rows]

    def get_events(self, run_id: str) -> list[EventRecord]:
        with self._lock:
            return [dataclasses.replace(e) for e in self._events.get(run_id, [])]

    def register_runner(self, runner: RunnerRecord) -> None:
        with self._lock:
            self._runners[runner.runner_id] = dataclasses.replace(runner)

    def heartbeat(self, runner_id: str, at: float) -> None:
        with self._lock:
            runner = self._runners.get(runner_id)
            if runner is not None:
                runner.heartbeat_at = at

    def unregister_runner(self, runner_id: str) -> None:
        with self._lock:
            self._runners.pop(runner_id, None)

    def list_runners(self) -> list[RunnerRecord]:
        with self._lock:
            return [dataclasses.replace(r) for r in self._runners.values()]

    def unfinished_runs(self) -> list[RunRecord]:
        with self._lock:
            runs = [r for r in self._runs.values() if r.status == RunStatus.RUNNING]
        runs.sort(key=lambda r: r.created_at)
        return [dataclasses.replace(r) for r in runs]

    def prunable_runs(self, ended_before: float, statuses: Sequence[str], limit: int) -> list[str]:
        with self._lock:
            ended = [
                r
                for r in self._runs.values()
                if r.ended_at is not None and r.ended_at < ended_before and r.status in statuses
            ]
        ended.sort(key=lambda r: r.ended_at or 0.0)
        return [r.run_id for r in ended[:limit]]

    def delete_runs(self, run_ids: Sequence[str]) -> list[str]:
        outputs: list[str] = []
        with self._lock:
            for run_id in run_ids:
                run = self._runs.get(run_id)
                if run is None or run.ended_at is None:
                    continue
                del self._runs[run_id]
                tasks = self._tasks.pop(run_id, {})
                outputs.extend(t.output_json for t in tasks.values() if t.output_json is not None)
                self._events.pop(run_id, None)
        return outputs

    def claim_run(self, run_id: str, new_owner: str, expected_owner: str | None) -> bool:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.status != RunStatus.RUNNING or run.owner_id != expected_owner:
                return False
            run.owner_id = new_owner
            for task in self._tasks.get(run_id, {}).values():
                if task.status == TaskStatus.RUNNING:
                    task.deaths += 1
            return True

    def send_signal(self, run_id: str, name: str, payload_json: str, at: float) -> int:
        with self._lock:
            signal_id = len(self._signals) + 1
            self._signals.append(SignalRecord(signal_id, run_id, name, payload_json, at))
            return signal_id

    def get_signals(self, run_id: str, after_id: int = 0) -> list[SignalRecord]:
        with self._lock:
            return [dataclasses.replace(s) for s in self._signals[after_id:] if s.run_id == run_id]

    def signals_after(self, after_id: int) -> list[tuple[int, str]]:
        with self._lock:
            return [(s.signal_id, s.run_id) for s in self._signals[after_id:]]

    def latest_signal_id(self) -> int:
        with self._lock:
            return len(self._signals)

    def cache_get(self, key: str, now: float) -> str | None:
        with self._lock:
            entry = self._cache.get(key)
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def cache_put(self, key: str, value_json: str, expires_at: float) -> None:
        with self._lock:
            self._cache[key] = (value_json, expires_at)

    # -- retries, cancels, deploys -----------------------------------------

    def record_shape(self, kind: str, name: str, version: str, digest: str, shape: str) -> None:
        with self._lock:
            self._shapes.setdefault((kind, name, version), {}).setdefault(digest, shape)

    def get_shapes(self, kind: str, name: str, version: str) -> list[str]:
        with self._lock:
            return list(self._shapes.get((kind, name, version), {}).values())

    def reopen_run(self, reopening: Reopening) -> bool:
        r = reopening
        with self._lock:
            run = self._runs.get(r.run_id)
            if run is None or run.status != r.from_status:
                return False
            if r.check_owner and run.owner_id != r.from_owner:
                return False
            run.status = RunStatus.RUNNING
            run.owner_id = r.new_owner
            run.workflow_version = r.version
            run.error = run.final_json = run.ended_at = None
            self._tasks[r.run_id] = {t.task_key: dataclasses.replace(t) for t in r.tasks}
            for e in r.events:
                stored = dataclasses.replace(e, event_id=self._next_event_id)
                self._next_event_id += 1
                self._events.setdefault(e.run_id, []).append(stored)
            self._cancels.pop(r.run_id, None)
            return True

    def request_cancel(self, run_id: str, reason: str, at: float) -> None:
        with self._lock:
            self._cancels[run_id] = reason

    def cancel_requests(self, owner_id: str) -> list[tuple[str, str]]:
        with self._lock:
            return [
                (run_id, reason)
                for run_id, reason in self._cancels.items()
                if (run := self._runs.get(run_id)) is not None
                and run.status == RunStatus.RUNNING
                and run.owner_id == owner_id
            ]

    def clear_cancel_request(self, run_id: str) -> None:
        with self._lock:
            self._cancels.pop(run_id, None)

    def close(self) -> None:
        """Nothing to release."""

    # -- browsing (the dashboard) -------------------------------------------

    def _matching(self, f: RunFilter) -> list[RunRecord]:
        def keep(r: RunRecord) -> bool:
            return (
                (f.workflow is None or r.workflow_name == f.workflow)
                and (f.version is None or r.workflow_version == f.version)
                and (f.status is None or r.status == f.status)
                and (f.kind is None or r.kind == f.kind)
                and (not f.run_id_prefix or r.run_id.startswith(f.run_id_prefix))
                and (f.created_from is None or r.created_at >= f.created_from)
                and (f.created_to is None or r.created_at < f.created_to)
            )

        with self._lock:
            return [dataclasses.replace(r) for r in self._runs.values() if keep(r)]

    def search_runs(
        self, filter: RunFilter, limit: int = 50, after: Cursor | None = None
    ) -> list[RunRecord]:
        runs = sorted(self._matching(filter), key=lambda r: (r.created_at, r.run_id), reverse=True)
        if after is not None:
            runs = [r for r in runs if (r.created_at, r.run_id) < after]
        return runs[:limit]

    def count_runs(self, filter: RunFilter) -> dict[str, int]:
        counts: dict[str, int] = {}
        for run in self._matching(filter.without_status()):
            counts[run.status] = counts.get(run.status, 0) + 1
        return counts

    def latest_event_id(self, run_id: str | None = None) -> int:
        with self._lock:
            if run_id is None:
                return self._next_event_id - 1
            return max((e.event_id or 0 for e in self._events.get(run_id, [])), default=0)

    def workflow_names(self) -> list[str]:
        with self._lock:
            return sorted({r.workflow_name for r in self._runs.values()})

    def workflow_stats(self) -> list[WorkflowStats]:
        groups: dict[tuple[str, str, str], list[RunRecord]] = {}
        with self._lock:
            for r in self._runs.values():
                groups.setdefault((r.workflow_name, r.workflow_version, r.kind), []).append(r)
        stats = [
            WorkflowStats(
                name,
                version,
                kind,
                len(runs),
                sum(r.status == RunStatus.COMPLETED for r in runs),
                sum(r.status == RunStatus.FAILED for r in runs),
                sum(r.status == RunStatus.RUNNING for r in runs),
                max(r.created_at for r in runs),
            )
            for (name, version, kind), runs in groups.items()
        ]
        return sorted(stats, key=lambda s: s.last_created_at, reverse=True)
