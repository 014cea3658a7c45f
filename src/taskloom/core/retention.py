"""Retention: delete ended runs older than a cut-off, so the journal stops growing.

A journal records every run forever unless told otherwise (a soak of small
runs grew a SQLite file by ~2 KB a run). ``taskloom prune`` and the
``retention`` option of runners and workers delete ended runs -- their
tasks, events, signals and the artifact files their outputs point to -- in
small batches, each its own short transaction, so a concurrent workload
never waits long for the write lock. What is never deleted: a run that has
not ended, and an ended child whose parent still runs (the parent reads the
child's result from its run). Expired cache entries are dropped whenever a
cache entry is written. SQLite reuses the freed pages, so under steady load
with retention on the file stops growing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from taskloom.core import styles
from taskloom.journal.base import Journal
from taskloom.journal.records import RunStatus

logger = logging.getLogger("taskloom")

#: The statuses a run can end in; the default of what is pruned.
ENDED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)

#: "No limit" for a dry run's count.
_EVERY = 2**62

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_age(text: str) -> float:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"`` (or plain seconds) -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if match is None:
        raise ValueError(
            f"cannot read the age {text!r}: give a number and a unit, e.g. 30d, 12h, 90m, 45s"
        )
    return float(match[1]) * _UNITS[match[2] or "s"]


def check_statuses(statuses: Sequence[str]) -> tuple[str, ...]:
    """The statuses to prune, each one of the ended statuses (matched without case)."""
    by_lower = {s.lower(): s for s in ENDED}
    chosen: list[str] = []
    for status in statuses:
        found = by_lower.get(status.strip().lower())
        if found is None:
            raise ValueError(
                f"cannot prune runs with status {status!r}: only ended runs are pruned; "
                f"use {', '.join(s.lower() for s in ENDED)}"
            )
        chosen.append(found)
    if not chosen:
        raise ValueError("no status to prune: give at least one of completed, failed, cancelled")
    return tuple(dict.fromkeys(chosen))


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What one prune deleted (or, with ``dry_run``, would delete)."""

    runs: int
    artifacts: int
    kept: int
    batches: int
    dry_run: bool
    seconds: float


def prune(
    journal: Journal,
    older_than: float,
    *,
    statuses: Sequence[str] = ENDED,
    batch_size: int = 25,
    dry_run: bool = False,
    now: float | None = None,
    stop: threading.Event | None = None,
) -> PruneReport:
    """Delete runs that ended more than ``older_than`` seconds ago, batch by batch.

    Each batch is one transaction; after it, the write lock is left free for
    as long as the batch held it, so a prune never takes more than about half
    of the journal's write time from a concurrent workload.
    """
    if not older_than >= 0:
        raise ValueError(f"older_than={older_than!r}: give a number of seconds >= 0")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: give a positive number of runs")
    chosen = check_statuses(statuses)
    started = time.monotonic()
    cutoff = (time.time() if now is None else now) - older_than
    keep = styles.runs_to_keep(journal)
    runs = artifacts = batches = 0
    kept: set[str] = set()
    if dry_run:
        candidates = journal.prunable_runs(cutoff, chosen, _EVERY)
        kept = {run_id for run_id in candidates if run_id in keep}
        runs = len(candidates) - len(kept)
    while not dry_run and (stop is None or not stop.is_set()):
        # Kept runs stay first in the index's order: ask for that many more.
        candidates = journal.prunable_runs(cutoff, chosen, batch_size + len(kept))
        batch = [run_id for run_id in candidates if run_id not in keep]
        kept.update(run_id for run_id in candidates if run_id in keep)
        if not batch:
            break
        held = time.monotonic()
        outputs = journal.delete_runs(batch)
        held = time.monotonic() - held
        artifacts += styles.sweep_outputs(outputs)
        runs += len(batch)
        batches += 1
        # Leave the write lock free at least as long as the batch held it, so a
        # concurrent workload's commits wait for one short batch at most.
        if stop is not None:
            stop.wait(held)
        else:
            time.sleep(held)
    report = PruneReport(runs, artifacts, len(kept), batches, dry_run, time.monotonic() - started)
    if runs and not dry_run:
        logger.info(
            "taskloom retention: deleted %d run(s) that ended before %s, %d artifact file(s)",
            runs,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cutoff)),
            artifacts,
        )
    return report


class Retention:
    """Prune a journal every ``interval`` seconds on a daemon thread (runners, workers)."""

    def __init__(
        self,
        journal: Journal,
        older_than: float,
        *,
        statuses: Sequence[str] = ENDED,
        interval: float = 3600.0,
        batch_size: int = 25,
    ) -> None:
        if not older_than >= 0:
            raise ValueError(f"retention={older_than!r}: give a number of seconds >= 0")
        self.journal = journal
        self.older_than = older_than
        self.statuses = check_statuses(statuses)
        self.interval = interval
        self.batch_size = batch_size
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="taskloom-retention", daemon=True)

    def start(self) -> Retention:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                prune(
                    self.journal,
                    self.older_than,
                    statuses=self.statuses,
                    batch_size=self.batch_size,
                    stop=self._stop,
                )
            except Exception:
                logger.exception("taskloom retention: pruning failed; trying again later")
            self._stop.wait(self.interval)
