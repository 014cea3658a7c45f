"""Where ``@task(cache_ttl=...)`` keeps results: the journal, or this process's memory.

A flow run has a journal, and its cached results go there
(:class:`JournalCache`): they survive restarts and every process on the
database sees them. An immediate call outside any flow has no journal, so it
uses auto_workflow's default backend, a process-wide LRU
(:data:`cache`). Both satisfy :class:`CacheStore`. A cache is an
optimisation, so a journal that fails to answer is logged and treated as a
miss rather than failing the task.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol

from taskloom.dataflow.cache_key import cache_key
from taskloom.errors import ValueRefusedError

if TYPE_CHECKING:
    from taskloom.journal.base import Journal

logger = logging.getLogger("taskloom")

#: Entries kept before the least recently used is dropped.
MAX_ENTRIES = 1024

__all__ = ["MAX_ENTRIES", "CacheStore", "JournalCache", "ResultCache", "cache", "cache_key"]


class CacheStore(Protocol):
    """A place for cached results; ``get`` answers ``(hit, value)``."""

    def get(self, key: str) -> tuple[bool, Any]: ...

    def put(self, key: str, value: Any, ttl: float, *, allow_pickle: bool = False) -> None: ...


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

    def put(self, key: str, value: Any, ttl: float, *, allow_pickle: bool = False) -> None:
        """Keep ``value`` (the object itself: nothing is encoded in memory)."""
        with self._lock:
            self._entries[key] = (time.monotonic() + ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class JournalCache:
    """Cached results recorded in a journal, encoded like task results.

    Expiry uses wall-clock time (``time.time()``) because other processes,
    possibly on other machines, read the same entries.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def get(self, key: str) -> tuple[bool, Any]:
        from taskloom.dataflow.values import decode_value

        try:
            text = self.journal.cache_get(key, time.time())
        except Exception as exc:
            logger.warning("taskloom cache: reading %r failed, treating as a miss: %s", key, exc)
            return False, None
        if text is None:
            return False, None
        try:
            return True, decode_value(text)
        except ValueRefusedError as exc:
            # Never loaded; the task runs and its fresh result replaces the entry.
            logger.warning("taskloom cache: entry %r refused, treating as a miss: %s", key, exc)
            return False, None

    def put(self, key: str, value: Any, ttl: float, *, allow_pickle: bool = False) -> None:
        """Record ``value``; ``allow_pickle``: its task opted in to signed pickles."""
        from taskloom.dataflow.values import encode_value

        try:
            text = encode_value(
                value, f"cached task {key.partition(':')[0]!r}", allow_pickle=allow_pickle
            )
            self.journal.cache_put(key, text, time.time() + ttl)
        except Exception as exc:
            logger.warning("taskloom cache: storing %r failed, not cached: %s", key, exc)


cache = ResultCache()
