"""``StepBackend``: what handles and event senders need of whoever executes runs.

Why this module exists: ``client`` (handles) and ``events`` (``send_event``)
both take a backend -- an engine here, or the queue of the workers. The
protocol lives below both so ``events`` need not import ``client``, which
imports ``events``. ``taskloom.steps.client`` re-exports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from taskloom.journal.base import Journal


class StepBackend(Protocol):
    """What handles need of whoever executes the runs: an engine here, or the workers."""

    @property
    def journal(self) -> Journal: ...

    def wait(self, run_id: str, timeout: float | None = None) -> object: ...

    def cancel(self, run_id: str, reason: str = ...) -> bool: ...

    def wake(self, run_id: str) -> None: ...
