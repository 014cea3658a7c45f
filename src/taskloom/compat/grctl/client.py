"""Twin of ``grctl.client``: ``Client``, ``Connection``, ``get_logger``, ``setup_logging``.

A ``Connection`` names the journal instead of a NATS server: a database URL
(``Connection.connect("sqlite:///app.db")``), else ``$TASKLOOM_DATABASE_URL``,
else ``./taskloom.db``. The ``Client`` only records runs and follows them,
as grctl's does; a ``Worker`` on the same journal executes them.
"""

from __future__ import annotations

import builtins
import logging
import sys
from datetime import timedelta
from typing import Any

from taskloom.journal.urls import resolve_url
from taskloom.steps import AsyncClient, AsyncWorkflowHandle, HistoryEvent, RunInfo


class Connection:
    """Where runs are recorded: a journal URL (grctl: a NATS connection)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.closed = False

    def __repr__(self) -> str:
        return f"<grctl Connection {self.url!r}>"

    @classmethod
    async def connect(
        cls, servers: str | list[str] | None = None, *, url: str | None = None
    ) -> Connection:
        """A connection to the journal ``url`` (or ``servers[0]``), else the default one.

        grctl's ``servers`` are NATS addresses; taskloom needs none, so a
        ``nats://`` address is refused with the fix.
        """
        given = url if url is not None else servers
        if isinstance(given, list):
            given = given[0] if given else None
        if given is not None and str(given).startswith(("nats://", "tls://")):
            raise ValueError(
                f"Connection.connect({given!r}): taskloom needs no NATS server; give a database "
                "url (sqlite:///path.db or postgresql://...) or set TASKLOOM_DATABASE_URL"
            )
        return cls(resolve_url(given))

    async def close(self) -> None:
        """Stop using this connection (clients made with it refuse further calls)."""
        self.closed = True


class Client:
    """grctl's async client, keyword for keyword (``type=``, ``id=``, ``input=``, ``timeout=``)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._client = AsyncClient(connection.url, execute=False)

    def _open(self) -> AsyncClient:
        if self._connection.closed:
            raise RuntimeError(f"{self._connection!r} is closed; connect again")
        return self._client

    async def start_workflow(
        self,
        type: str,  # grctl's keyword names: type=, id=, input=
        id: str,
        input: Any = None,
        timeout: timedelta | None = None,
        return_type: builtins.type[Any] | None = None,
    ) -> AsyncWorkflowHandle:
        """Record a run for the workers; its handle (``run_info``, ``future``, ``send``)."""
        return await self._open().start_workflow(
            type, id, input, timeout=timeout, return_type=return_type
        )

    async def run_workflow(
        self,
        type: str,
        id: str,
        input: Any = None,
        timeout: timedelta | None = None,
        return_type: builtins.type[Any] | None = None,
    ) -> Any:
        """Start a workflow and wait (up to ``timeout``) for its result."""
        return await self._open().run_workflow(
            type, id, input, timeout=timeout, return_type=return_type
        )

    async def get_workflow_handle(self, workflow_id: str) -> AsyncWorkflowHandle:
        """The handle of a recorded run (``WorkflowNotFoundError`` if there is none)."""
        return await self._open().get_handle(workflow_id)

    #: The name grctl's documentation uses.
    get_handle = get_workflow_handle

    async def describe(self, wf_id: str) -> RunInfo:
        return await self._open().describe(wf_id)

    async def get_history(self, wf_id: str, run_id: str | None = None) -> list[HistoryEvent]:
        """The run's history; ``run_id`` can only be ``wf_id`` (one run per workflow id)."""
        if run_id is not None and run_id != wf_id:
            raise ValueError(
                f"get_history({wf_id!r}, run_id={run_id!r}): taskloom keeps one run per "
                "workflow id, whose run id is the workflow id"
            )
        return await self._open().get_history(wf_id)


class _Formatter(logging.Formatter):
    """grctl's log line: ``LEVEL HH:MM:SS [module.function:line] message``."""

    def format(self, record: logging.LogRecord) -> str:
        where = record.module
        if record.funcName != "<module>":
            where = f"{where}.{record.funcName}:{record.lineno}"
        line = f"{record.levelname} {self.formatTime(record, '%H:%M:%S')} [{where}] "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stdout at ``level`` with grctl's format (configures the root logger)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setLevel(level)
    handler.setFormatter(_Formatter())
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)


def get_logger(name: str) -> logging.Logger:
    """A logger that lets everything through (the handlers filter), as grctl's does."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    return logger


__all__ = ["Client", "Connection", "get_logger", "setup_logging"]
