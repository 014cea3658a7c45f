"""Structured logs: every record of the ``taskloom`` logger names its run, task and attempt.

Log pipelines (Loki, Elasticsearch, CloudWatch) index fields, not prose. The
engine passes ``extra=task_fields(...)`` where a record is about a run or a
task; :class:`TaskFieldsFilter`, which ``import taskloom`` attaches to the
``taskloom`` logger (a filter, not a handler: configuring output stays the
application's business), gives every other record the same attributes set
to ``None``, so a formatter can always use ``%(run_id)s`` or read
``record.task_id``. :class:`JsonFormatter` prints one JSON object a line
(``taskloom ... --log-format json``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

#: The record attributes every ``taskloom`` log record carries.
FIELDS = ("run_id", "task_id", "attempt")


def task_fields(
    run_id: str | None, task_id: str | None = None, attempt: int | None = None
) -> dict[str, Any]:
    """``extra=`` for a record about a run (and one of its tasks' attempts)."""
    return {"run_id": run_id, "task_id": task_id, "attempt": attempt}


class TaskFieldsFilter(logging.Filter):
    """Give a record the run/task/attempt attributes it was not logged with (``None``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, None)
        return True


def install(logger: logging.Logger) -> None:
    """Attach the filter once (importing taskloom twice must not stack filters)."""
    if not any(isinstance(f, TaskFieldsFilter) for f in logger.filters):
        logger.addFilter(TaskFieldsFilter())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, run/task/attempt, error."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in FIELDS:
            document[name] = getattr(record, name, None)
        if record.exc_info:
            document["error"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """What the CLI does with ``--log-level`` / ``--log-format``: one stderr handler on
    the root logger, unless the application configured logging already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
