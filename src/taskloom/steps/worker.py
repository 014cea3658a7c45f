"""``Worker``: a process that serves step workflows, started and stopped as in grctl.

grctl splits clients (which only submit) from workers (which execute). On
taskloom there is no server in between: a worker is an engine on the
journal that runs the recorded runs of the workflows defined in its
process, including runs whose process died.

* **SQLite** (or any local journal): the worker owns an
  :class:`~taskloom.core.engine.Engine`. A client that only submits
  (``Client(db, execute=False)``, what grctl's client does) records the run
  with no owner; a worker in the same process claims it at once, a worker in
  another process on its next maintenance tick (``recovery_interval``, 1 s).
* **PostgreSQL**: the worker is taskloom's distributed worker
  (``taskloom worker``) on a background thread: runs are claimed from the
  shared queue with leases, LISTEN/NOTIFY wake-ups and fencing.

``await worker.start()`` serves until ``await worker.stop()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskloom.core.engine import Engine
from taskloom.journal.urls import is_postgres_url, open_journal, resolve_url, sqlite_file
from taskloom.steps.functions import DurableFunction
from taskloom.steps.workflow import Workflow

if TYPE_CHECKING:
    from taskloom.distributed.worker import Worker as DistributedWorker

_lock = threading.Lock()
_serving: dict[str, list[Engine]] = {}


def check_shared(url: str, what: str) -> None:
    """Refuse a journal that a client and its workers cannot share (an in-memory one)."""
    if not is_postgres_url(url) and sqlite_file(url) is None:
        raise ValueError(
            f"{what} on {url!r}: clients and workers share runs through a database file "
            "(sqlite:///path.db) or PostgreSQL; an in-memory journal belongs to one engine"
        )


def local_engines(url: str) -> list[Engine]:
    """The engines of the workers serving database ``url`` in this process."""
    with _lock:
        return list(_serving.get(url, ()))


def claim_now(url: str) -> None:
    """Have this process's workers on ``url`` claim unowned runs now (not on their tick).

    Waits for the claim, so a handle made next finds the run active here and
    follows it through the engine rather than by reading the journal.
    """
    for engine in local_engines(url):
        engine.call(engine.recover).result(timeout=10)


class Worker:
    """Serves ``workflows`` from the journal ``db`` until stopped."""

    def __init__(
        self,
        workflows: Sequence[Workflow | DurableFunction[Any]],
        db: str | None = None,
        *,
        workflow_logger: logging.Logger | None = None,
        max_concurrent_tasks: int = 32,
    ) -> None:
        if isinstance(workflows, Workflow | DurableFunction) or not workflows:
            raise TypeError(
                f"Worker(workflows={workflows!r}): give a non-empty list of step workflows"
            )
        resolved: list[Workflow] = []
        for item in workflows:
            found = item.workflow if isinstance(item, DurableFunction) else item
            if not isinstance(found, Workflow):
                raise TypeError(
                    f"Worker(workflows=[..., {item!r}, ...]): every item must be a "
                    "taskloom.steps.Workflow (or a durable function)"
                )
            found.require_start()
            if workflow_logger is not None:
                found.logger = workflow_logger
            resolved.append(found)
        self.workflows = resolved
        self.url = resolve_url(db)
        check_shared(self.url, "Worker")
        self.max_concurrent_tasks = max_concurrent_tasks
        self._engine: Engine | None = None
        self._remote: DistributedWorker | None = None
        self._stopped: asyncio.Event | None = None
        types = "|".join(sorted(w.workflow_type for w in resolved))
        suffix = hashlib.md5(types.encode(), usedforsecurity=False)
        #: Stable across processes serving the same workflows (grctl's ``worker_name``).
        self.worker_name = suffix.hexdigest()[:5]
        #: Unique per worker: ``<name>.<random>@<host>`` (grctl's format).
        self.worker_id = f"{self.worker_name}.{os.urandom(1).hex()}@{socket.gethostname()}"

    def __repr__(self) -> str:
        return f"<steps.Worker {self.worker_id} on {self.url!r}>"

    @property
    def running(self) -> bool:
        return self._engine is not None or self._remote is not None

    async def start(self) -> None:
        """Serve until :meth:`stop` (grctl's blocking ``start``)."""
        if self.running:
            raise RuntimeError(f"{self!r} is already started")
        self._stopped = asyncio.Event()
        if is_postgres_url(self.url):
            from taskloom.distributed.worker import Worker as DistributedWorker

            self._remote = DistributedWorker(
                self.url, workflows=[], flows=[], concurrency=self.max_concurrent_tasks
            )
            self._remote.start()
        else:
            journal = await asyncio.to_thread(open_journal, self.url)
            engine = Engine(journal, max_concurrent_tasks=self.max_concurrent_tasks)
            self._engine = engine
            with _lock:
                _serving.setdefault(self.url, []).append(engine)
            engine.call(engine.recover)
        await self._stopped.wait()

    #: grctl's older name of :meth:`start`.
    run = start

    async def stop(self, shutdown_timeout: float = 30.0) -> None:
        """Stop taking work; wait up to ``shutdown_timeout`` s for steps in flight.

        Runs that are not finished stay recorded (a waiting run holds no
        step in flight); the next worker on the database continues them.
        """
        engine, remote = self._engine, self._remote
        self._engine = self._remote = None
        if engine is not None:
            with _lock:
                engines = _serving.get(self.url, [])
                if engine in engines:
                    engines.remove(engine)
            await asyncio.to_thread(_drain, engine, shutdown_timeout)
        if remote is not None:
            await asyncio.to_thread(remote.stop, shutdown_timeout)
        if self._stopped is not None:
            self._stopped.set()


def _drain(engine: Engine, timeout: float) -> None:
    """Let runs with a step in flight finish (up to ``timeout``), then shut the engine down."""
    busy = [e.future for e in list(engine.active.values()) if e.running]
    concurrent.futures.wait(busy, timeout=timeout)
    engine.shutdown(wait=False)
