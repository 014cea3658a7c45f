"""``ctx.logger``: a logger that stays silent while a step replays.

After a crash a step is re-executed from its start and its recorded
operations are replayed; logging them again would print every line twice.
While the next operation the step will call is already in the journal the
step is replaying, and the logger drops records; from the first operation
that runs for real it logs again (grctl's ``ReplayAwareLogger``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter


class ReplayAwareLogger(_Adapter):
    """A ``LoggerAdapter`` whose records are dropped while ``replaying()`` is true."""

    def __init__(self, logger: logging.Logger, replaying: Callable[[], bool]) -> None:
        super().__init__(logger, {})
        self._replaying = replaying

    def isEnabledFor(self, level: int) -> bool:
        return not self._replaying() and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return msg, kwargs


def workflow_logger(workflow_type: str, configured: logging.Logger | None) -> logging.Logger:
    """The logger a workflow's steps log to: the one a worker was given, else a named one."""
    return (
        configured
        if configured is not None
        else logging.getLogger(f"taskloom.workflow.{workflow_type}")
    )
