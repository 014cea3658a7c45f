"""Twin of ``auto_workflow.artifacts``: artifact refs and stores (taskloom.dataflow.artifacts).

Differences: ``FileSystemArtifactStore`` writes JSON unless pickle is asked
for (``artifact_serializer = "pickle"``); ``get_store()`` with no settings
returns taskloom's durable default store (files beside the journal), where
auto_workflow's default keeps artifacts in memory.
"""

from taskloom.dataflow.artifacts import (
    ArtifactRef,
    FileSystemArtifactStore,
    InMemoryArtifactStore,
    get_store,
    set_store,
)

__all__ = [
    "ArtifactRef",
    "FileSystemArtifactStore",
    "InMemoryArtifactStore",
    "get_store",
    "set_store",
]
