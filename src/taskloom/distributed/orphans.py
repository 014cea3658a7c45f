"""Workers report distributed runs left behind by a deploy, once per workflow version.

A worker claims only the tasks of the workflow versions it has, so after a
deploy the runs in flight at the old version wait in the queue for a worker
that will never come. At every ``lease`` seconds of its fallback poll, a
worker looks for distributed runs with a task left unclaimed (or a lease
left expired) for longer than a lease, and warns once per version about
those of a workflow name it serves at a version it does not have: how many,
the version it has, and what to do -- or, with ``adopt_orphans=True``,
adopts those that are compatible (:mod:`taskloom.core.adoption`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from taskloom.core.orphans import orphan_advice
from taskloom.core.run_control import adopt_distributed
from taskloom.core.styles import PlanHost
from taskloom.errors import AdoptionRefused, RunStateError
from taskloom.journal.postgres import PostgresJournal
from taskloom.journal.postgres_reopen import stalled_runs
from taskloom.journal.records import RunRecord

logger = logging.getLogger("taskloom")


class WorkerOrphans:
    """The orphan warnings of one worker."""

    def __init__(
        self,
        journal: PostgresJournal,
        served: Iterable[tuple[str, str, str]],
        grace: float,
        adopt: PlanHost | None = None,
    ) -> None:
        """``adopt``: the worker, when it adopts compatible orphans (``adopt_orphans=True``)."""
        self.journal = journal
        self.grace = grace
        self.adopt = adopt
        self._refused: set[str] = set()
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
                if self._adopted(run):
                    continue
                counts[(run.kind, run.workflow_name, run.workflow_version)] += 1
        for (kind, name, version), count in counts.items():
            if (kind, name, version) in self._warned:
                continue
            self._warned.add((kind, name, version))
            mine = ", ".join(sorted(self.versions[(kind, name)]))
            logger.warning("%s", orphan_advice(count, kind, name, version, mine))

    def _adopted(self, run: RunRecord) -> bool:
        """With the policy: adopt ``run`` if it is compatible (warn once if it is not)."""
        if self.adopt is None or run.run_id in self._refused:
            return False
        try:
            adopt_distributed(self.journal, run, self.adopt, by="policy")
        except AdoptionRefused as exc:
            self._refused.add(run.run_id)
            logger.warning("%s", exc)
            return False
        except RunStateError as exc:
            logger.info("%s", exc)
            return False
        logger.warning(
            "adopted run %s of %r onto this worker's version", run.run_id, run.workflow_name
        )
        return True
