"""``StepRecorder``: the part of a step context that records operations.

Why this module exists: ``operations``, ``patching``, ``parent`` and
``children`` journal what a step does, and ``StepContext`` calls them. They
describe the context they need with this protocol instead of importing
``taskloom.steps.context``, so the context can import them without an
import cycle. ``StepContext`` satisfies it structurally.
"""

from __future__ import annotations

from typing import Protocol

from taskloom.steps.journal import RecordedRun, RunWriter


class StepRecorder(Protocol):
    """What the recording helpers read and call on the context of the running step."""

    @property
    def workflow_id(self) -> str: ...

    @property
    def workflow_type(self) -> str: ...

    @property
    def step_name(self) -> str: ...

    @property
    def index(self) -> int: ...

    @property
    def position(self) -> int: ...

    @property
    def recorded(self) -> RecordedRun: ...

    @property
    def writer(self) -> RunWriter: ...

    def _take_position(self) -> int:
        """Take the next operation position of the step."""
        ...

    def check_recorded(self, position: int, name: str, digest: str) -> None:
        """Raise ``NonDeterminismError`` if the record at ``position`` is another call."""
        ...
