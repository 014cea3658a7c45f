"""``taskloom.serve_schedules``: fire schedules from a process that has no runner.

A ``DefaultRunner`` fires schedules by itself. A process that only defines
``@flow``s or step workflows starts the schedule loop on the process-wide
engine of its database with :func:`serve_schedules`; the loop stops (before
the engine) when the process exits, or with ``stop()``. One loop per
database per process: a second call returns the first.
"""

from __future__ import annotations

import atexit
import threading

from taskloom.core.schedule_loop import EngineLauncher, ScheduleLoop
from taskloom.core.shared_engines import engine_for
from taskloom.journal.urls import resolve_url

_loops: dict[str, ScheduleLoop] = {}
_lock = threading.Lock()


def serve_schedules(db: str | None = None, *, max_catchup: int = 100) -> ScheduleLoop:
    """Fire the schedules (and poll the triggers) this process defines, in the background.

    ``max_catchup``: how many due times missed while no process fired them
    are still started, oldest first (``cron_max_catchup_executions``).
    """
    if isinstance(max_catchup, bool) or not isinstance(max_catchup, int) or max_catchup < 1:
        raise ValueError(f"max_catchup={max_catchup!r}: give an int >= 1")
    url = resolve_url(db)
    with _lock:
        loop = _loops.get(url)
        if loop is None:
            engine = engine_for(url)
            loop = ScheduleLoop(engine.journal, EngineLauncher(engine), max_catchup=max_catchup)
            loop.start()
            _loops[url] = loop
        return loop


def stop_serving() -> None:
    """Stop every loop :func:`serve_schedules` started (at exit, before the engines)."""
    with _lock:
        loops = list(_loops.values())
        _loops.clear()
    for loop in loops:
        loop.stop()


# atexit runs handlers last-registered first: this one is registered after the
# shared engines' (imported above), so loops stop before their engines.
atexit.register(stop_serving)
