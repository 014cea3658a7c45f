"""Orphaned runs: reported once per version, adopted when the policy says so.

An engine's recovery scan resumes runs whose owner died -- but only with
the workflow version they were started with. After a deploy no process
has that version, and such runs used to wait forever without a word.
:class:`OrphanWatch` sits in the scan: it counts the orphans of a workflow
name this process defines at a version it does not have, logs one warning
per version (how many, the version it has, what to do), and, with
``adopt_orphans=True``, adopts them (:mod:`taskloom.core.adoption`).

It also carries out the cancels other processes asked for the runs this
engine executes (:func:`taskloom.core.run_control.cancel_run`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from taskloom.core import adoption
from taskloom.core.liveness import runner_alive
from taskloom.errors import AdoptionRefused
from taskloom.journal.base import Journal
from taskloom.journal.records import Reopening, RunRecord, RunStatus

if TYPE_CHECKING:
    from taskloom.core.engine import Engine
    from taskloom.core.plan import Plan

logger = logging.getLogger("taskloom")


def orphan_advice(count: int, kind: str, name: str, version: str, have: str) -> str:
    """The warning about ``count`` orphaned runs at a version this process does not have."""
    return (
        f"{count} orphaned run(s) of workflow {name!r} ({kind}) are at version {version}, "
        f"which this process does not have (it has {have}): they are not resumed here. To "
        "finish them, adopt them onto this version (taskloom adopt RUN_ID --import MODULE, "
        "DefaultRunnerConfig(adopt_orphans=True) or taskloom worker --adopt-orphans), cancel "
        "them (taskloom cancel RUN_ID), or run a process with the old code; list them with: "
        "taskloom runs --orphaned"
    )


class OrphanWatch:
    """The orphan bookkeeping of one engine."""

    def __init__(self, engine: Engine, adopt: bool) -> None:
        self.engine = engine
        self.adopt = adopt
        self._warned: set[tuple[str, str, str]] = set()
        self._refused: set[str] = set()
        self._seen: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        self._cancels_supported = True

    def unplannable(self, run: RunRecord) -> Plan | None:
        """``run`` is orphaned and this process cannot resume it as it is.

        If this process defines its workflow at another version, note it for
        the warning; with the adoption policy, adopt it now and return the
        plan to resume it with (the run then belongs to this engine).
        """
        have = adoption.current_version(run.kind, run.workflow_name)
        if have is None or have == run.workflow_version:
            return None
        self._seen[(run.kind, run.workflow_name, run.workflow_version)].add(run.run_id)
        if not self.adopt or run.run_id in self._refused:
            return None
        engine = self.engine
        records = engine.journal.get_tasks(run.run_id)
        try:
            adopted = adoption.prepare(run, records, engine, by="policy")
        except AdoptionRefused as exc:
            self._refused.add(run.run_id)
            logger.warning("%s", exc)
            return None
        except Exception:
            self._refused.add(run.run_id)
            logger.exception("could not check whether run %s can be adopted", run.run_id)
            return None
        reopening = Reopening(
            run.run_id,
            RunStatus.RUNNING,
            adopted.version,
            adopted.tasks,
            adopted.events,
            new_owner=engine.runner_id,
            check_owner=True,
            from_owner=run.owner_id,
        )
        if not engine.journal.reopen_run(reopening):
            return None
        run.workflow_version = adopted.version
        run.owner_id = engine.runner_id
        self._seen[(run.kind, run.workflow_name, run.workflow_version)].discard(run.run_id)
        logger.warning(
            "adopted run %s of %r onto version %s (new tasks: %s; dropped: %s)",
            run.run_id,
            run.workflow_name,
            adopted.version,
            ", ".join(adopted.added) or "none",
            ", ".join(adopted.removed) or "none",
        )
        return adopted.plan

    def report(self) -> None:
        """After a scan: one warning per version not warned about yet."""
        for (kind, name, version), runs in self._seen.items():
            if not runs or (kind, name, version) in self._warned:
                continue
            have = adoption.current_version(kind, name) or "none"
            self._warned.add((kind, name, version))
            logger.warning("%s", orphan_advice(len(runs), kind, name, version, have))

    def carry_out_cancels(self) -> None:
        """Cancel the runs executed here that another process asked to cancel."""
        engine = self.engine
        if not engine.active or not self._cancels_supported:
            return
        try:
            requests = engine.journal.cancel_requests(engine.runner_id)
        except NotImplementedError:
            self._cancels_supported = False
            return
        for run_id, reason in requests:
            execution = engine.active.get(run_id)
            if execution is not None:
                logger.info("run %s: cancelled at the request of another process", run_id)
                engine._cancel_tree(execution, reason, run_id)
            engine.journal.clear_cancel_request(run_id)


def orphaned_local_runs(journal: Journal, lease: float) -> list[tuple[RunRecord, str]]:
    """Running runs (not distributed) whose owner is gone, with why they are orphaned."""
    runs = journal.unfinished_runs()
    runners = {r.runner_id: r for r in journal.list_runners()}
    found: list[tuple[RunRecord, str]] = []
    for run in runs:
        owner = runners.get(run.owner_id) if run.owner_id else None
        if owner is not None and runner_alive(owner, lease):
            continue
        if run.owner_id is None:
            why = "no owner: waiting for a runner that has its version"
        elif owner is None:
            why = f"its runner {run.owner_id} is gone"
        else:
            why = f"its runner {run.owner_id} stopped heart-beating"
        found.append((run, why))
    return found
