"""Artifact store for ``@task(persist=True)``: big results stay out of the journal.

A persisted task's raw result is written to the store and the task's output
becomes a small :class:`ArtifactRef`, which is what the journal records and
what downstream tasks receive; they read the data with
``get_store().get(ref)``, as in auto_workflow.

The default store is a directory of files beside the default journal
(``taskloom-artifacts/`` next to ``taskloom.db``, or ``$TASKLOOM_ARTIFACTS_DIR``),
so refs stay valid across processes and after a crash, like the journal
that records them. ``set_store(MemoryArtifactStore())`` keeps artifacts in
the process instead (auto_workflow's default). The ``artifact_store``,
``artifact_store_path`` and ``artifact_serializer`` settings
(:mod:`taskloom.dataflow.config`), when given, choose the default store
instead (:mod:`taskloom.dataflow.artifact_stores`).
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from taskloom.core import codec, known_types
from taskloom.errors import UnencodableValueError, ValueRefusedError


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A pointer to one stored result."""

    key: str


known_types.register_type(ArtifactRef, name="taskloom.ArtifactRef")


class ArtifactStore(Protocol):
    """What a store must do: keep a value under a fresh ref, give it back."""

    def put(self, value: Any) -> ArtifactRef: ...

    def get(self, ref: ArtifactRef) -> Any: ...


class MemoryArtifactStore:
    """Values kept in a dict of this process."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()

    def put(self, value: Any, *, allow_pickle: bool = False) -> ArtifactRef:
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
    """One file per artifact in a directory: survives the process.

    A file starts with a header line saying how the rest is written: raw
    ``bytes``, the safe codec's text (:mod:`taskloom.core.codec`), or -- only
    for a task that opted in (``serializer="pickle"``) -- a pickle with its
    HMAC signature in the header, checked before it is loaded. Files of
    taskloom 0.1 (bare pickles) are refused unless unsigned pickles are
    trusted (:func:`taskloom.configure_pickle`).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)

    def put(self, value: Any, *, allow_pickle: bool = False) -> ArtifactRef:
        """Store ``value``; ``allow_pickle``: its task opted in to signed pickles."""
        ref = ArtifactRef(uuid.uuid4().hex)
        if type(value) is bytes:
            header, body = _HEADER + b" bytes\n", value
        else:
            what = f"the artifact of a persisted task ({type(value).__name__})"
            try:
                header, body = _HEADER + b" codec\n", codec.encode(value, what).encode()
            except UnencodableValueError:
                if not allow_pickle:
                    raise
                from taskloom.core import signing

                blob, signature = signing.pickle_bytes(value, what)
                header, body = _HEADER + b" pickle " + signature.encode() + b"\n", blob
        path = os.path.join(self.directory, ref.key)
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return ref

    def get(self, ref: ArtifactRef) -> Any:
        key = ref.key
        if not isinstance(key, str) or not key.isalnum():
            raise ValueRefusedError(
                f"artifact key {key!r} is not one this store made (a store key is a hex id); "
                "refusing to read outside the artifact directory"
            )
        path = os.path.join(self.directory, key)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise KeyError(
                f"artifact {key} is not in {self.directory!r}; was it stored by a process "
                "using another artifact directory?"
            ) from None
        what = f"artifact {key} in {self.directory!r}"
        from taskloom.core import signing

        if not data.startswith(_HEADER + b" "):
            return signing.load_unsigned(data, f"{what} is an unsigned pickle, which")
        header, _, body = data.partition(b"\n")
        kind, _, signature = header[len(_HEADER) + 1 :].partition(b" ")
        if kind == b"bytes":
            return body
        if kind == b"codec":
            return codec.decode(body.decode())
        if kind == b"pickle":
            return signing.load_signed(body, signature.decode(), f"{what} (a signed pickle)")
        raise ValueRefusedError(f"{what} has an unknown format {kind!r} (a newer taskloom?)")


#: First bytes of every artifact file this version writes.
_HEADER = b"TASKLOOM-ARTIFACT 1"


ENV_VAR = "TASKLOOM_ARTIFACTS_DIR"
_store: ArtifactStore | None = None
_store_lock = threading.Lock()
#: ids of the store get_store() built itself (a reload of the settings replaces it).
_from_settings: set[int] = set()


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
            from taskloom.dataflow.artifact_stores import configured_store

            _store = configured_store() or FileArtifactStore(default_directory())
            _from_settings.add(id(_store))
        return _store


def _forget_settled_store() -> None:
    """The settings were reloaded: a store built from them is built again on next use."""
    global _store
    with _store_lock:
        if _store is not None and id(_store) in _from_settings:
            _store = None
        _from_settings.clear()


def set_store(store: ArtifactStore) -> None:
    """Replace the process-wide store (for example with a ``MemoryArtifactStore``)."""
    global _store
    with _store_lock:
        _store = store


_ARTIFACT_KEY = re.compile(r"\b[0-9a-f]{32}\b")


def sweep_artifacts(outputs: list[str]) -> int:
    """Delete the files of the current file store that deleted outputs pointed to.

    Retention calls this with the recorded outputs of the tasks it deleted.
    An artifact's key (a 32-hex-digit name) appears in its ref's recorded
    form; only files of that exact name in the store's directory are removed,
    so nothing else in the folder is touched. A store in memory has nothing
    on disk.
    """
    store = get_store()
    if isinstance(store, FileArtifactStore):
        directory = store.directory
    elif isinstance(store, FileSystemArtifactStore):
        directory = os.fspath(store.root)
    else:
        return 0
    removed = 0
    for output in outputs:
        for key in set(_ARTIFACT_KEY.findall(output)):
            path = os.path.join(directory, key)
            try:
                os.remove(path)
            except FileNotFoundError:
                continue
            removed += 1
    return removed


from taskloom.dataflow.artifact_stores import FileSystemArtifactStore  # noqa: E402
from taskloom.dataflow.config import on_reload  # noqa: E402

on_reload(_forget_settled_store)

#: auto_workflow's name for :class:`MemoryArtifactStore`.
InMemoryArtifactStore = MemoryArtifactStore

__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "FileArtifactStore",
    "FileSystemArtifactStore",
    "InMemoryArtifactStore",
    "MemoryArtifactStore",
    "get_store",
    "set_store",
]
