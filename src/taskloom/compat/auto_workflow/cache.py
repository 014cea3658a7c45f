"""Twin of ``auto_workflow.cache``: result cache backends (taskloom.dataflow.result_caches).

They serve immediate calls; a flow run caches in its journal.
"""

from taskloom.dataflow.result_caches import (
    FileSystemResultCache,
    InMemoryResultCache,
    ResultCache,
    get_result_cache,
)

__all__ = ["FileSystemResultCache", "InMemoryResultCache", "ResultCache", "get_result_cache"]
