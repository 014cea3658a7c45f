"""What the pages and the API read, gathered once: filters, pages of runs, a run's view.

The handlers stay thin: they parse a request into these calls and render
the answer as HTML or JSON. A run's drawing is cached per run and size, so
a live page asks the journal only for the task rows each second.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from taskloom.core import shapes
from taskloom.journal.base import Journal
from taskloom.journal.browse import Cursor, RunFilter
from taskloom.journal.records import RunRecord, RunStatus, TaskRecord
from taskloom.ui import graph
from taskloom.ui.present import run_summary

STATUSES = ("Running", "Completed", "Failed", "Cancelled")
STYLES = ("dag", "flow", "steps")
PAGE_SIZE = 50


class BadRequest(ValueError):
    """A query parameter that cannot be used; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class RunQuery:
    filter: RunFilter
    after: Cursor | None
    limit: int
    #: The raw parameters, to rebuild links (pagination keeps the filters).
    params: dict[str, str]


def _time(name: str, text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name}={text!r} is not a date/time; use ISO 8601, e.g. 2026-01-31T14:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_query(params: Mapping[str, str]) -> RunQuery:
    """The runs filter of a request's query (``workflow``, ``status``, ``style``, ``run``,
    ``from``, ``to``, ``after``, ``limit``)."""
    clean = {k: v.strip() for k, v in params.items() if v.strip()}
    status = clean.get("status")
    if status is not None:
        match = [s for s in STATUSES if s.lower() == status.lower()]
        if not match:
            raise BadRequest(f"status={status!r}: use one of {', '.join(STATUSES)}")
        status = match[0]
    style = clean.get("style")
    if style is not None and style.lower() not in STYLES:
        raise BadRequest(f"style={style!r}: use one of {', '.join(STYLES)}")
    after: Cursor | None = None
    if "after" in clean:
        at, sep, run_id = clean["after"].partition(":")
        try:
            after = (float(at), run_id)
        except ValueError:
            sep = ""
        if not sep:
            raise BadRequest("after: use the 'next' cursor a page of runs returned")
    try:
        limit = int(clean.get("limit", PAGE_SIZE))
    except ValueError:
        raise BadRequest(f"limit={clean['limit']!r} is not a number") from None
    if not 1 <= limit <= 500:
        raise BadRequest(f"limit={limit}: use 1 to 500")
    run_filter = RunFilter(
        workflow=clean.get("workflow"),
        version=clean.get("version"),
        status=status,
        kind=style.lower() if style else None,
        run_id_prefix=clean.get("run"),
        created_from=_time("from", clean["from"]) if "from" in clean else None,
        created_to=_time("to", clean["to"]) if "to" in clean else None,
    )
    keep = ("workflow", "version", "status", "style", "run", "from", "to", "limit")
    return RunQuery(run_filter, after, limit, {k: clean[k] for k in keep if k in clean})


def cursor_of(run: RunRecord) -> str:
    return f"{run.created_at!r}:{run.run_id}"


class Browser:
    """Reads for the pages and the API, over one journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._lock = threading.Lock()
        self._drawings: OrderedDict[str, tuple[int, graph.Drawing]] = OrderedDict()

    def runs(self, query: RunQuery) -> dict[str, Any]:
        """A page of runs, the counts per status and the cursor of the next page."""
        event_id = self.journal.latest_event_id()
        runs = self.journal.search_runs(query.filter, query.limit + 1, query.after)
        more = len(runs) > query.limit
        runs = runs[: query.limit]
        counts = self.journal.count_runs(query.filter)
        orphans = self.orphans(runs)
        summaries = [run_summary(r) | {"orphaned": orphans.get(r.run_id)} for r in runs]
        return {
            "runs": summaries,
            "orphans": orphans,
            "records": runs,
            "counts": {s: counts.get(s, 0) for s in STATUSES}
            | {k: v for k, v in counts.items() if k not in STATUSES},
            "total": sum(counts.values()),
            "next": cursor_of(runs[-1]) if more and runs else None,
            "event_id": event_id,
        }

    def orphans(self, runs: list[RunRecord]) -> dict[str, str]:
        """Which of ``runs`` are running with no live process executing them (the owner
        is gone, or a deploy left them at a version nothing serves), and why: what the
        runs page flags. Costs the runners list, and on PostgreSQL one query for the
        distributed runs waiting for a worker -- never a scan of every running run."""
        from taskloom.core.liveness import runner_alive
        from taskloom.core.run_control import DEFAULT_LEASE
        from taskloom.journal.postgres import PostgresJournal

        running = [r for r in runs if r.status == RunStatus.RUNNING]
        if not running:
            return {}
        runners = {r.runner_id: r for r in self.journal.list_runners()}
        distributed = isinstance(self.journal, PostgresJournal)
        found: dict[str, str] = {}
        for run in running:
            owner = runners.get(run.owner_id) if run.owner_id else None
            if owner is not None and runner_alive(owner, DEFAULT_LEASE):
                continue
            if run.owner_id is None:
                if not distributed:  # on PostgreSQL, an unowned run may be the workers'
                    found[run.run_id] = "no owner: waiting for a runner that has its version"
            elif owner is None:
                found[run.run_id] = f"its runner {run.owner_id} is gone"
            else:
                found[run.run_id] = f"its runner {run.owner_id} stopped heart-beating"
        if distributed and any(r.owner_id is None for r in running):
            from taskloom.journal.postgres_reopen import stalled_runs

            assert isinstance(self.journal, PostgresJournal)
            shown = {r.run_id for r in running}
            for run, count in stalled_runs(self.journal, DEFAULT_LEASE):
                if run.run_id in shown:
                    found[run.run_id] = (
                        f"{count} task(s) waited over {DEFAULT_LEASE:g} s for a worker "
                        "that serves its version"
                    )
        return found

    def drawing(self, run: RunRecord, tasks: list[TaskRecord]) -> graph.Drawing:
        """The run's drawing, coloured by ``tasks``; laid out again only when it grew."""
        with self._lock:
            cached = self._drawings.get(run.run_id)
            if cached is not None and cached[0] == len(tasks):
                self._drawings.move_to_end(run.run_id)
                drawing = cached[1]
                graph.colour(drawing, tasks)
                return drawing
        recorded = self.recorded_graph(run, tasks) if run.kind != "steps" else None
        drawing = graph.draw(run.kind, tasks, recorded)
        with self._lock:
            self._drawings[run.run_id] = (len(tasks), drawing)
            while len(self._drawings) > 32:
                self._drawings.popitem(last=False)
        return drawing

    def recorded_graph(
        self, run: RunRecord, tasks: list[TaskRecord]
    ) -> tuple[list[str], list[list[int]]] | None:
        """The edges the run started with: the graph recorded for its workflow version
        whose keys begin its task rows (a flow's graph depends on its inputs)."""
        keys = [t.task_key for t in sorted(tasks, key=lambda t: t.seq)]
        recorded = shapes.recorded_shapes(
            self.journal, run.kind, run.workflow_name, run.workflow_version
        )
        for shape in recorded:
            nodes = list(shape)
            if nodes == keys[: len(nodes)]:
                index = {key: i for i, key in enumerate(nodes)}
                return nodes, [[index[d] for d in shape[k] if d in index] for k in nodes]
        return None

    def relations(self, run: RunRecord, tasks: list[TaskRecord]) -> dict[str, Any]:
        """The run's parent and child runs (child step workflows)."""
        children: list[RunRecord] = []
        if run.kind == "steps":
            from taskloom.steps.children import recorded_children

            for child_id in recorded_children(tasks):
                child = self.journal.get_run(child_id)
                if child is not None:
                    children.append(child)
        parent_id = self.journal.parent_run(run.run_id)
        if parent_id is None and run.kind == "steps":
            # A child whose id was derived from its parent's ("PARENT.s001.0002").
            head, sep, tail = run.run_id.rpartition(".s")
            if sep and tail.replace(".", "").isdigit():
                candidate = head
                if self.journal.get_run(candidate) is not None:
                    parent_id = candidate
        return {"parent": parent_id, "children": children}

    def live(self, run_id: str, since: int) -> dict[str, Any] | None:
        """What a live run page needs to repaint, or ``{"changed": False}``."""
        event_id = self.journal.latest_event_id(run_id)
        run = self.journal.get_run(run_id)
        if run is None:
            return None
        if event_id == since and since:
            return {"changed": False, "event_id": event_id, "status": run.status}
        tasks = self.journal.get_tasks(run_id)
        drawing = self.drawing(run, tasks)
        counts: dict[str, int] = {}
        for task in tasks:
            counts[task.status] = counts.get(task.status, 0) + 1
        return {
            "changed": True,
            "event_id": event_id,
            "status": run.status,
            "ended": run.status in RunStatus.TERMINAL,
            "error": run.error,
            "size": drawing.size,
            "nodes": {n.node_id: n.status for n in drawing.nodes},
            "done": {n.node_id: n.counts.get("Completed", 0) for n in drawing.nodes if n.grouped},
            "members": {n.node_id: len(n.members) for n in drawing.nodes if n.grouped},
            "counts": counts,
            "now": time.time(),
        }
