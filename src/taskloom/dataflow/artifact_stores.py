"""auto_workflow's artifact store names, and the store its settings describe.

``FileSystemArtifactStore(root)`` keeps one file per artifact under
``root`` with a pluggable serializer (:mod:`taskloom.dataflow.serializers`):
JSON unless pickle is asked for (``artifact_serializer = "pickle"``, or a
task's ``serializer="pickle"`` for what JSON cannot hold), and pickles are
signed, so a planted file cannot run code in a reader. Files are written to a temporary
name and renamed, so a reader never sees half an artifact and a crash
leaves none behind. ``InMemoryArtifactStore`` is taskloom's
``MemoryArtifactStore``.

:func:`configured_store` is what ``get_store()`` uses when the settings
name a store (``artifact_store``, ``artifact_store_path`` or
``artifact_serializer`` set in ``pyproject.toml`` or the environment);
otherwise taskloom's default (files beside the journal) stays in place.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskloom.dataflow.config import load_config
from taskloom.dataflow.serializers import (
    PickleSerializer,
    Serializer,
    is_signed_pickle,
    serializer_named,
)

if TYPE_CHECKING:
    from taskloom.dataflow.artifacts import ArtifactRef, ArtifactStore


class FileSystemArtifactStore:
    """Artifacts as files under ``root``, encoded by ``serializer``."""

    def __init__(self, root: str | os.PathLike[str], serializer: Serializer | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.serializer = serializer or serializer_named(load_config()["artifact_serializer"])

    def put(self, value: Any, *, allow_pickle: bool = False) -> ArtifactRef:
        """Store ``value``; ``allow_pickle`` (its task opted in): a value the serializer
        cannot write is stored as a signed pickle instead."""
        from taskloom.dataflow.artifacts import ArtifactRef

        try:
            data = self.serializer.dumps(value)
        except TypeError:
            if not allow_pickle:
                raise
            data = PickleSerializer().dumps(value)
        ref = ArtifactRef(uuid.uuid4().hex)  # the name retention sweeps (32 hex digits)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.root / ref.key)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ref

    def get(self, ref: ArtifactRef) -> Any:
        key = getattr(ref, "key", None)
        if not isinstance(key, str) or not key or "/" in key or key.startswith("."):
            raise KeyError(f"{ref!r} is not an artifact ref of this store")
        try:
            data = (self.root / key).read_bytes()
        except FileNotFoundError:
            raise KeyError(
                f"artifact {key} is not in {str(self.root)!r}; was it stored by a process "
                "using another artifact_store_path?"
            ) from None
        if is_signed_pickle(data):
            return PickleSerializer().loads(data)  # checked against the key before loading
        return self.serializer.loads(data)


def configured_store() -> ArtifactStore | None:
    """The store the settings ask for, or None if they leave taskloom's default."""
    config = load_config()
    if not {"artifact_store", "artifact_store_path", "artifact_serializer"} & config.explicit:
        return None
    if config["artifact_store"] == "memory":
        from taskloom.dataflow.artifacts import MemoryArtifactStore

        return MemoryArtifactStore()
    path = config["artifact_store_path"]
    if path is None:
        from taskloom.dataflow.artifacts import default_directory

        path = default_directory()
    return FileSystemArtifactStore(path)


__all__ = ["FileSystemArtifactStore", "configured_store"]
