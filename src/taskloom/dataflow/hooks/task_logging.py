"""auto_workflow's structured task log: one JSON line per finished task call.

``structured_logging_middleware`` is a task middleware
(:mod:`taskloom.dataflow.hooks.middleware`) writing ``task_ok`` /
``task_err`` records (task, flow, run_id, node, attempt, duration_ms,
error) to the ``taskloom.tasks`` logger; ``register_structured_logging()``
installs it once. ``taskloom flow run --structured-logs`` does both.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from taskloom.core.current import current_task
from taskloom.dataflow.hooks import middleware

logger = logging.getLogger("taskloom.tasks")


async def structured_logging_middleware(
    next_call: middleware.NextCall, task_def: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Log one JSON record when the task call ends, then pass its outcome on."""
    scope = current_task()
    record: dict[str, Any] = {
        "task": getattr(task_def, "name", None),
        "flow": scope.workflow_name if scope else None,
        "run_id": scope.run_id if scope else None,
        "node": scope.task_key if scope else None,
        "attempt": scope.attempt if scope else None,
    }
    start = time.perf_counter()
    try:
        value = await next_call()
    except Exception as exc:
        record["duration_ms"] = (time.perf_counter() - start) * 1000.0
        record["error"] = repr(exc)
        logger.error(json.dumps({"event": "task_err", **record}))
        raise
    record["duration_ms"] = (time.perf_counter() - start) * 1000.0
    logger.info(json.dumps({"event": "task_ok", **record}))
    return value


def register_structured_logging() -> None:
    """Install :func:`structured_logging_middleware` (once; calling again does nothing)."""
    if structured_logging_middleware not in middleware.registered():
        middleware.register(structured_logging_middleware)


__all__ = ["register_structured_logging", "structured_logging_middleware"]
