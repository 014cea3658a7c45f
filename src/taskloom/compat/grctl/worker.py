"""Twin of ``grctl.worker``: ``Context``, ``Worker``, ``task``, ``StoreKeyNotFoundError``.

``Worker(workflows=[...], connection=conn)`` serves the workflows from the
connection's journal: ``await worker.start()`` until ``await worker.stop()``
(a local engine on SQLite, taskloom's distributed worker on PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from taskloom import task
from taskloom.steps import Context, StoreKeyNotFoundError
from taskloom.steps import Worker as StepWorker

if TYPE_CHECKING:
    from taskloom.compat.grctl.client import Connection
    from taskloom.steps import Workflow


class Worker(StepWorker):
    """grctl's ``Worker(workflows, connection, workflow_logger=None)``."""

    def __init__(
        self,
        workflows: Sequence[Workflow],
        connection: Connection,
        workflow_logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(workflows, connection.url, workflow_logger=workflow_logger)


__all__ = ["Context", "StoreKeyNotFoundError", "Worker", "task"]
