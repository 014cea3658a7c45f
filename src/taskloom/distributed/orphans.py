"""Workers report distributed runs left behind by a deploy, once per workflow version.

A worker claims only the tasks of the workflow versions it has, so after a
deploy the runs in flight at the old version wait in the queue for a worker
that will never come. At every ``lease`` seconds of its fallback poll, a
worker looks for distributed runs with a task left unclaimed (or a lease
left expired) for longer than a lease, and warns once per version about
those of a workflow name it serves at a version it does not have: how many,
the version it has, and what to do.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from taskloom.core.orphans import orphan_advice
from taskloom.journal.postgres import PostgresJournal
from taskloom.journal.postgres_reopen import stalled_runs

logger = logging.getLogger("taskloom")


class WorkerOrphans:
    """The orphan warnings of one worker."""

    def __init__(
        self, journal: PostgresJournal, served: Iterable[tuple[str, str, str]], grace: float
    ) -> None:
        self.journal = journal
        self.grace = grace
        self.versions: dict[tuple[str, str], set[str]] = {}
        for kind, name, version in served:
            self.versions.setdefault((kind, name), set()).add(version)
        self._warned: set[tuple[str, str, str]] = set()
        self._next = 0.0

    def check(self, now: float) -> None:
        """Look (at most once per ``grace`` seconds of ``now``, a monotonic clock) and warn."""
        if now < self._next:
            return
        self._next = now + self.grace
        counts: Counter[tuple[str, str, str]] = Counter()
        for run, _ in stalled_runs(self.journal, self.grace):
            have = self.versions.get((run.kind, run.workflow_name))
            if have and run.workflow_version not in have:
                counts[(run.kind, run.workflow_name, run.workflow_version)] += 1
        for (kind, name, version), count in counts.items():
            if (kind, name, version) in self._warned:
                continue
            self._warned.add((kind, name, version))
            mine = ", ".join(sorted(self.versions[(kind, name)]))
            logger.warning("%s", orphan_advice(count, kind, name, version, mine, adoptable=False))
