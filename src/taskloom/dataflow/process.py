"""``run_in="process"``: a sync task body in another process.

The function and its arguments travel with cloudpickle, so lambdas and
closures work. Calls without a timeout share one process pool (of
``process_pool_max_workers`` processes, default one per CPU). A call with a
timeout gets a single-use worker of its own, so that when it runs over its
time the worker can be killed without hurting other tasks -- the only way
to really stop a Python function, which a thread cannot do. Workers start
from a ``forkserver``, never by forking the multi-threaded engine process.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import multiprocessing
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from taskloom.dataflow import task_body
from taskloom.dataflow.config import setting
from taskloom.errors import TaskTimeoutError

if TYPE_CHECKING:
    from taskloom.dataflow.result_cache import CacheStore
    from taskloom.task import TaskDefinition

_shared: concurrent.futures.ProcessPoolExecutor | None = None
_lock = threading.Lock()


def _shutdown_shared() -> None:
    global _shared
    with _lock:
        pool, _shared = _shared, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(_shutdown_shared)

#: Stop the shared pool (it starts again on the next call); safe to call twice.
shutdown_pool = _shutdown_shared


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _call_pickled(blob: bytes) -> Any:
    """Runs in the worker: unpickle the call and make it."""
    import cloudpickle

    fn, args, kwargs = cloudpickle.loads(blob)
    return fn(*args, **kwargs)


def get_process_pool() -> concurrent.futures.ProcessPoolExecutor:
    """The shared pool (``process_pool_max_workers`` processes), started on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = concurrent.futures.ProcessPoolExecutor(
                max_workers=setting("process_pool_max_workers"), mp_context=_context()
            )
        return _shared


def run_in_process(
    definition: TaskDefinition[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """One attempt of ``definition`` in a worker process, honouring its timeout."""
    import cloudpickle

    try:
        blob = cloudpickle.dumps((definition.fn, args, kwargs))
    except Exception as exc:
        raise TypeError(
            f"task {definition.task_id!r} runs in a worker process (run_in='process'), "
            f"but its function or arguments cannot be pickled: {exc}; pass picklable "
            "arguments or use run_in='thread'"
        ) from exc
    if definition.timeout is None:
        return get_process_pool().submit(_call_pickled, blob).result()
    single = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=_context())
    try:
        future = single.submit(_call_pickled, blob)
        try:
            return future.result(timeout=definition.timeout)
        except concurrent.futures.TimeoutError:
            for process in list(getattr(single, "_processes", {}).values()):
                process.kill()
            raise TaskTimeoutError(
                f"task {definition.task_id!r} timed out after {definition.timeout:g} s "
                "(its worker process was killed)"
            ) from None
    finally:
        # Wait: the worker is done or killed, and a pool left to the garbage
        # collector at interpreter exit prints noise from its manager thread.
        single.shutdown(wait=True, cancel_futures=True)


def process_body(definition: TaskDefinition[Any, Any], store: CacheStore) -> Callable[..., Any]:
    """A flow node's attempt: cache and persistence here, the call in a worker."""

    def body(*args: Any, **kwargs: Any) -> Any:
        return task_body.run_sync(
            definition, store, args, kwargs, lambda: run_in_process(definition, args, kwargs)
        )

    return body
