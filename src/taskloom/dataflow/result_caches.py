"""auto_workflow's result caches: ``InMemoryResultCache``, ``FileSystemResultCache``.

They serve ``@task(cache_ttl=...)`` calls that have no journal -- immediate
calls outside a flow -- chosen by the ``result_cache`` setting
(``"memory"``, the default, or ``"filesystem"`` under ``result_cache_path``).
A flow run always caches in its journal (durable and shared by every
process on the database), which is what these backends try to approximate.

Their interface is auto_workflow's: ``get(key, ttl)`` returns the value if
it was set less than ``ttl`` seconds ago, else ``None``; ``set(key, value)``.
:meth:`lookup` tells a cached ``None`` from a miss, which the engine uses.
The memory cache is an LRU bounded by ``result_cache_max_entries`` (1024 if
unset). The filesystem cache writes JSON by default (``result_cache_serializer
= "pickle"``, or a task's ``serializer="pickle"``, opts in to signed pickles);
a value it cannot write is not cached, a file it cannot trust is a miss.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

from taskloom.dataflow.config import load_config
from taskloom.dataflow.serializers import (
    PickleSerializer,
    Serializer,
    is_signed_pickle,
    serializer_named,
)

logger = logging.getLogger("taskloom")

#: Entries the memory cache keeps when ``result_cache_max_entries`` is not set.
DEFAULT_MAX_ENTRIES = 1024


class ResultCache(Protocol):
    """auto_workflow's cache interface."""

    def get(self, key: str, ttl: float | None) -> Any | None: ...

    def set(self, key: str, value: Any) -> None: ...


class InMemoryResultCache:
    """A thread-safe LRU of (time stored, value) in this process."""

    def __init__(self, max_entries: int | None = None) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def max_entries(self) -> int:
        if self._max is not None:
            return self._max
        configured = load_config()["result_cache_max_entries"]
        return int(configured) if configured is not None else DEFAULT_MAX_ENTRIES

    def lookup(self, key: str, ttl: float | None) -> tuple[bool, Any]:
        """``(True, value)`` if ``key`` was set less than ``ttl`` s ago, else ``(False, None)``."""
        if ttl is None:
            return False, None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or time.time() - entry[0] > ttl:
                return False, None
            self._entries.move_to_end(key)
            return True, entry[1]

    def get(self, key: str, ttl: float | None) -> Any | None:
        return self.lookup(key, ttl)[1]

    def set(self, key: str, value: Any) -> None:
        limit = self.max_entries
        with self._lock:
            self._entries[key] = (time.time(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > limit:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class FileSystemResultCache:
    """One file per entry under ``root`` (sharded by key hash); survives the process."""

    def __init__(self, root: str | os.PathLike[str], serializer: Serializer | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.serializer = serializer or serializer_named(load_config()["result_cache_serializer"])

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / digest[:2] / digest

    def lookup(self, key: str, ttl: float | None) -> tuple[bool, Any]:
        if ttl is None:
            return False, None
        path = self._path(key)
        try:
            stored = path.stat().st_mtime
            data = path.read_bytes()
        except FileNotFoundError:
            return False, None
        if time.time() - stored > ttl:
            return False, None
        try:
            if is_signed_pickle(data):
                return True, PickleSerializer().loads(data)
            return True, self.serializer.loads(data)
        except Exception as exc:
            logger.warning("result cache: %s cannot be read (%s); treated as a miss", path, exc)
            return False, None

    def get(self, key: str, ttl: float | None) -> Any | None:
        return self.lookup(key, ttl)[1]

    def set(self, key: str, value: Any, *, allow_pickle: bool = False) -> None:
        try:
            try:
                data = self.serializer.dumps(value)
            except TypeError:
                if not allow_pickle:
                    raise
                data = PickleSerializer().dumps(value)
        except Exception as exc:
            logger.info("result cache: %r not cached: %s", key.partition(":")[0], exc)
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


_memory = InMemoryResultCache()


def get_result_cache() -> InMemoryResultCache | FileSystemResultCache:
    """The backend the ``result_cache`` setting names (the memory one is process-wide)."""
    config = load_config()
    if config["result_cache"] == "filesystem":
        return FileSystemResultCache(config["result_cache_path"])
    return _memory


class ImmediateStore:
    """The engine's cache interface over :func:`get_result_cache` for one task's ``ttl``."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.cache = get_result_cache()

    def get(self, key: str) -> tuple[bool, Any]:
        return self.cache.lookup(key, self.ttl)

    def put(self, key: str, value: Any, ttl: float, *, allow_pickle: bool = False) -> None:
        if isinstance(self.cache, FileSystemResultCache):
            self.cache.set(key, value, allow_pickle=allow_pickle)
        else:
            self.cache.set(key, value)


__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "FileSystemResultCache",
    "ImmediateStore",
    "InMemoryResultCache",
    "ResultCache",
    "get_result_cache",
]
