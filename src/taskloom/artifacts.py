"""Artifact store for ``@task(persist=True)``: big results stay out of the journal.

A persisted task's raw result is written to the store and the task's output
becomes a small :class:`ArtifactRef`, which is what the journal records and
what downstream tasks receive; they read the data with
``get_store().get(ref)``, as in auto_workflow.

The default store is in memory (auto_workflow's default), so its artifacts
die with the process: a flow resumed after a crash gets refs it cannot
resolve. Call ``set_store(FileArtifactStore(path))`` to make them durable.
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
        with open(os.path.join(self.directory, ref.key), "rb") as f:
            return pickle.load(f)


_store: ArtifactStore = MemoryArtifactStore()


def get_store() -> ArtifactStore:
    """The store used by ``persist=True`` tasks."""
    return _store


def set_store(store: ArtifactStore) -> None:
    """Replace the process-wide store (for example with a ``FileArtifactStore``)."""
    global _store
    _store = store


__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "FileArtifactStore",
    "MemoryArtifactStore",
    "get_store",
    "set_store",
]
