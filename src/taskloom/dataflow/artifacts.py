"""Artifact store for ``@task(persist=True)``: big results stay out of the journal.

A persisted task's raw result is written to the store and the task's output
becomes a small :class:`ArtifactRef`, which is what the journal records and
what downstream tasks receive; they read the data with
``get_store().get(ref)``, as in auto_workflow.

The default store is a directory of files beside the default journal
(``taskloom-artifacts/`` next to ``taskloom.db``, or ``$TASKLOOM_ARTIFACTS_DIR``),
so refs stay valid across processes and after a crash, like the journal
that records them. ``set_store(MemoryArtifactStore())`` keeps artifacts in
the process instead (auto_workflow's default).
"""

from __future__ import annotations

import os
import pickle
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A pointer to one stored result."""

    key: str


class ArtifactStore(Protocol):
    """What a store must do: keep a value under a fresh ref, give it back."""

    def put(self, value: Any) -> ArtifactRef: ...

    def get(self, ref: ArtifactRef) -> Any: ...


class MemoryArtifactStore:
    """Values kept in a dict of this process."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()

    def put(self, value: Any) -> ArtifactRef:
        ref = ArtifactRef(uuid.uuid4().hex)
        with self._lock:
            self._data[ref.key] = value
        return ref

    def get(self, ref: ArtifactRef) -> Any:
        with self._lock:
            try:
                return self._data[ref.key]
            except KeyError:
                raise KeyError(
                    f"artifact {ref.key} is not in this in-memory store (it lives only as long "
                    "as the process that stored it); use FileArtifactStore for durable artifacts"
                ) from None


class FileArtifactStore:
    """One pickle file per artifact in a directory: survives the process."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)

    def put(self, value: Any) -> ArtifactRef:
        ref = ArtifactRef(uuid.uuid4().hex)
        path = os.path.join(self.directory, ref.key)
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(value, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return ref

    def get(self, ref: ArtifactRef) -> Any:
        path = os.path.join(self.directory, ref.key)
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except FileNotFoundError:
            raise KeyError(
                f"artifact {ref.key} is not in {self.directory!r}; was it stored by a process "
                "using another artifact directory?"
            ) from None


ENV_VAR = "TASKLOOM_ARTIFACTS_DIR"
_store: ArtifactStore | None = None
_store_lock = threading.Lock()


def default_directory() -> str:
    """``$TASKLOOM_ARTIFACTS_DIR``, else ``taskloom-artifacts`` beside the default journal."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured
    from taskloom.journal.urls import resolve_url, sqlite_file

    journal_file = sqlite_file(resolve_url(None))
    base = os.path.dirname(journal_file) if journal_file else os.path.abspath(".")
    return os.path.join(base, "taskloom-artifacts")


def get_store() -> ArtifactStore:
    """The store used by ``persist=True`` tasks (created on first use)."""
    global _store
    with _store_lock:
        if _store is None:
            _store = FileArtifactStore(default_directory())
        return _store


def set_store(store: ArtifactStore) -> None:
    """Replace the process-wide store (for example with a ``MemoryArtifactStore``)."""
    global _store
    with _store_lock:
        _store = store


__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "FileArtifactStore",
    "MemoryArtifactStore",
    "get_store",
    "set_store",
]
