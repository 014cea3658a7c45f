"""One engine per database shared by everything in a process that needs one.

``flow.run``, immediate calls, step workflows started through ``Client``
and ``resume`` need an engine without the user creating one: they share
the process-wide engine of their database (``db=``, else
``$TASKLOOM_DATABASE_URL``, else ``./taskloom.db``), started on first use
and stopped at exit (unfinished runs stay resumable).
"""

from __future__ import annotations

import atexit
import threading

from taskloom.core.engine import Engine
from taskloom.journal.urls import open_journal, resolve_url

#: Slots of a default flow engine, shared by the flow runs that set no max_concurrency.
DEFAULT_MAX_CONCURRENCY = 32

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_for(db: str | None) -> Engine:
    """The process-wide engine of a database, started on first use."""
    url = resolve_url(db)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = Engine(open_journal(url), max_concurrent_tasks=DEFAULT_MAX_CONCURRENCY)
            _engines[url] = engine
        return engine


def shutdown_engines(wait: bool = True) -> None:
    """Stop every default engine (unfinished runs stay resumable)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.shutdown(wait=wait, timeout=5)


atexit.register(shutdown_engines, False)
