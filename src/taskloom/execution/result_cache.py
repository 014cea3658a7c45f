"""In-memory result cache for ``@task(cache_ttl=...)``.

auto_workflow's default backend: a process-wide LRU whose entries expire
after the task's ``cache_ttl``. A hit skips the task body entirely. The key
is ``cache_key_fn(fn, args, kwargs)`` when given, otherwise a hash of the
pickled arguments (falling back to their ``repr``).
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskloom.authoring.task import TaskDefinition

#: Entries kept before the least recently used is dropped.
MAX_ENTRIES = 1024


class ResultCache:
    """A thread-safe LRU of (expiry, value) keyed by task and arguments."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` on a live hit, else ``(False, None)``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return False, None
            self._entries.move_to_end(key)
            return True, entry[1]

    def put(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


cache = ResultCache()


def cache_key(
    definition: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """The cache key of one call of ``definition``."""
    if definition.cache_key_fn is not None:
        return f"{definition.task_id}:{definition.cache_key_fn(definition.fn, args, kwargs)}"
    try:
        raw = pickle.dumps((args, sorted(kwargs.items())))
    except Exception:
        raw = repr((args, sorted(kwargs.items()))).encode()
    return f"{definition.task_id}:{hashlib.sha256(raw).hexdigest()}"
