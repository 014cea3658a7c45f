"""What a dashboard asks of a journal: filtered pages of runs, counts, summaries.

The engine never needs these reads; the dashboard (``taskloom ui``) and
other tools browsing a journal do. They live beside the records so every
backend answers the same shapes, and each query is served by an index
(``sql/*_009_browse.sql``, ``postgres_014_browse.sql``): a page of runs is
a keyset range scan, never an ``OFFSET`` over everything before it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs to list; ``None`` fields do not filter."""

    workflow: str | None = None
    version: str | None = None
    status: str | None = None
    #: The style: ``"dag"``, ``"flow"`` or ``"steps"`` (the run's recorded kind).
    kind: str | None = None
    #: A run id, or the first characters of one.
    run_id_prefix: str | None = None
    #: Created at or after / before these epoch seconds.
    created_from: float | None = None
    created_to: float | None = None

    def without_status(self) -> RunFilter:
        """The same filter for every status (what the per-status counts use)."""
        return RunFilter(
            self.workflow,
            self.version,
            None,
            self.kind,
            self.run_id_prefix,
            self.created_from,
            self.created_to,
        )


#: Where a page of runs continues: the ``(created_at, run_id)`` of the last run shown.
Cursor = tuple[float, str]


@dataclass(frozen=True, slots=True)
class WorkflowStats:
    """One workflow name and version seen in the journal, with its runs' outcomes."""

    name: str
    version: str
    kind: str
    runs: int
    completed: int
    failed: int
    running: int
    last_created_at: float

    @property
    def success_rate(self) -> float | None:
        """Completed runs among the ended ones (None while none ended)."""
        ended = self.runs - self.running
        return self.completed / ended if ended else None


@dataclass(frozen=True, slots=True)
class ClaimRecord:
    """A task a distributed worker holds right now (PostgreSQL only)."""

    worker_id: str
    run_id: str
    task_key: str
    lease_until: float | None
    started_at: float | None
