"""Adoption: continue a run started by an older version of its workflow on the current one.

A deploy changes a workflow's version; runs in flight keep the version
they started with, and no process has that code any more. Adoption moves
such a run onto the current version when that is safe:

* every task the run *completed* still exists, with the same id and the
  same dependencies (compared with the graph recorded when the run
  started, :mod:`taskloom.core.shapes`) -- its recorded output is reused;
* tasks that are new start fresh; tasks that had not completed start
  fresh under the new code; tasks that no longer exist and had not
  completed are dropped (an event says so).

Otherwise it is refused with every difference spelled out. Calls of a
dynamic ``fan_out`` (rows that were not in the recorded graph) are checked
by id only: their dependency is the fan-out's upstream, which is checked
as the fan-out's own node.

Each style registers how to build the current version's plan for a
recorded run (its *adopter*) and which version of a workflow name this
process has (its *version source*).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from taskloom.core import shapes, styles
from taskloom.core.plan import Plan
from taskloom.core.styles import PlanHost
from taskloom.errors import AdoptionRefused
from taskloom.journal.records import EventRecord, RunRecord, TaskRecord, TaskStatus

#: ``(run, host, its task rows) -> (the current version's plan, grown; its graph before
#: growth)``, or None when this process does not define the workflow.
Adopter = Callable[
    [RunRecord, PlanHost, list[TaskRecord]], "tuple[Plan, dict[str, list[str]]] | None"
]
#: ``workflow name -> the version this process has`` (None: not defined here).
VersionSource = Callable[[str], "str | None"]

_adopters: dict[str, Adopter] = {}
_versions: dict[str, VersionSource] = {}


def register_adopter(kind: str, adopter: Adopter) -> None:
    """How runs of ``kind`` get the current version's plan (one per style)."""
    _adopters[kind] = adopter


def register_version_source(kind: str, source: VersionSource) -> None:
    """How to tell which version of a ``kind`` workflow this process defines."""
    _versions[kind] = source


def current_version(kind: str, name: str) -> str | None:
    """The version of workflow ``name`` (of ``kind``) this process defines, if any."""
    styles.load_styles()
    source = _versions.get(kind)
    return source(name) if source is not None else None


@dataclass(slots=True)
class Adoption:
    """What adopting one run changes: its new version, task rows and events."""

    plan: Plan
    version: str
    tasks: list[TaskRecord]
    events: list[EventRecord]
    added: list[str]
    removed: list[str]


def prepare(run: RunRecord, records: list[TaskRecord], host: PlanHost, by: str) -> Adoption:
    """Check that ``run`` can continue on this process's version; the rows it would have.

    Raises :class:`AdoptionRefused` naming every difference (or why the
    check cannot be made).
    """
    styles.load_styles()
    adopter = _adopters.get(run.kind)
    built = adopter(run, host, records) if adopter is not None else None
    if built is None:
        raise AdoptionRefused(
            f"cannot adopt run {run.run_id}: workflow {run.workflow_name!r} ({run.kind}) is not "
            "defined in this process; import the module that defines it "
            "(taskloom adopt RUN_ID --import MODULE)"
        )
    plan, static = built
    if plan.workflow_version == run.workflow_version:
        raise AdoptionRefused(
            f"run {run.run_id} of {run.workflow_name!r} already has the current version "
            f"({run.workflow_version}); nothing to adopt"
        )
    ordered = sorted(records, key=lambda r: r.seq)
    old_shape = _old_shape(run, host, ordered)
    problems = _differences(old_shape, static, plan, ordered)
    if problems:
        raise AdoptionRefused(
            f"cannot adopt run {run.run_id} of {run.workflow_name!r} from version "
            f"{run.workflow_version} to {plan.workflow_version}: "
            + "; ".join(problems)
            + ". Cancel it (taskloom cancel RUN_ID), or finish it with a process that has the "
            "old code"
        )
    return _rows(run, ordered, plan, old_shape, by)


def _old_shape(run: RunRecord, host: PlanHost, ordered: list[TaskRecord]) -> dict[str, list[str]]:
    """The graph the run was started with: the recorded one whose keys lead its rows."""
    keys = [r.task_key for r in ordered]
    candidates = [
        s
        for s in shapes.recorded_shapes(
            host.journal, run.kind, run.workflow_name, run.workflow_version
        )
        if list(s) == keys[: len(s)]
    ]
    if not candidates:
        raise AdoptionRefused(
            f"cannot adopt run {run.run_id} of {run.workflow_name!r}: the graph of version "
            f"{run.workflow_version} was not recorded (the run was started by a taskloom that "
            "did not record graphs), so its completed tasks cannot be checked; cancel it or "
            "finish it with the old code"
        )
    if len(candidates) == 1:
        return candidates[0]
    # Same keys, different wiring (a flow whose graph depends on its inputs): a
    # dependency counts only if every candidate agrees on it.
    merged: dict[str, list[str]] = {}
    for key in candidates[0]:
        variants = {tuple(sorted(c[key])) for c in candidates}
        merged[key] = list(variants.pop()) if len(variants) == 1 else ["<ambiguous>"]
    return merged


def _differences(
    old: dict[str, list[str]],
    new_static: dict[str, list[str]],
    plan: Plan,
    ordered: list[TaskRecord],
) -> list[str]:
    problems: list[str] = []
    for record in ordered:
        if record.status != TaskStatus.COMPLETED:
            continue
        key = record.task_key
        if key not in plan.nodes:
            problems.append(f"completed task {key!r} no longer exists")
            continue
        if key not in old:
            continue  # a call of a dynamic fan_out: checked by id
        before = sorted(old[key])
        after = sorted(new_static.get(key, list(plan.nodes[key].deps)))
        if before != after:
            problems.append(
                f"completed task {key!r} depended on {_names(before)} and now depends on "
                f"{_names(after)}"
            )
    return problems


def _names(keys: list[str]) -> str:
    return "[" + ", ".join(repr(k) for k in keys) + "]" if keys else "nothing"


def _rows(
    run: RunRecord,
    ordered: list[TaskRecord],
    plan: Plan,
    old: dict[str, list[str]],
    by: str,
) -> Adoption:
    existing = {r.task_key: r for r in ordered}
    now = time.time()
    tasks: list[TaskRecord] = []
    added: list[str] = []
    for seq, key in enumerate(plan.nodes):
        record = existing.get(key)
        if record is None:
            added.append(key)
            tasks.append(TaskRecord(run.run_id, key, TaskStatus.PENDING, seq=seq))
            continue
        row = dataclasses.replace(record, seq=seq)
        same_deps = key not in old or sorted(old[key]) == sorted(plan.nodes[key].deps)
        keep = row.status == TaskStatus.COMPLETED or (
            row.status in (TaskStatus.FAILED, TaskStatus.SKIPPED) and same_deps
        )
        if not keep and row.status != TaskStatus.RETRYING:
            # Not finished under the old code: it starts fresh under the new one.
            row.status = TaskStatus.PENDING
            row.attempt = 0
            row.next_retry_at = row.started_at = row.ended_at = None
            row.output_json = row.error = row.traceback = None
        tasks.append(row)
    removed = [r.task_key for r in ordered if r.task_key not in plan.nodes]
    data = {
        "from_version": run.workflow_version,
        "to_version": plan.workflow_version,
        "added": added,
        "removed": removed,
        "by": by,
    }
    events = [EventRecord(run.run_id, "run_adopted", now, None, json.dumps(data))]
    events += [
        EventRecord(
            run.run_id, "task_removed", now, key, json.dumps({"version": plan.workflow_version})
        )
        for key in removed
    ]
    return Adoption(plan, plan.workflow_version, tasks, events, added, removed)
