"""Distributed ``@flow`` runs: submitted by a client, executed by workers.

``flow.submit(*args, db=url)`` (or ``Client.start_flow(flow, *args)``)
runs the flow body here, only to learn the graph, and queues its nodes
like a DAG run's tasks. Workers that imported the flow's module rebuild the
same graph from the recorded inputs (the flow planner, as for a resumed
local run) and execute the nodes; :meth:`RemoteFlowHandle.result` gives
what ``flow.run`` would have returned, or raises what it would have raised
under the run's failure policy -- except that a task's own exception object
lives in the worker, so ``fail_fast`` raises :class:`TaskFailedError` (or
``TaskTimeoutError``) carrying its recorded text.

A dynamic ``fan_out`` over a node is queued as its collector alone; the
worker that records the upstream's completion inserts the calls' rows in
the same transaction (:mod:`taskloom.distributed.growth`). Concurrency limits
(``max_concurrency``, ``fan_out(..., max_concurrency=)``, dynamic or not)
are recorded on the task rows and enforced by the workers' limited claim
(see docs/postgres.md).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from taskloom.dataflow import flow_actions
from taskloom.dataflow.flow import Flow, lookup_flow
from taskloom.dataflow.runner import flow_input_json, outcome, plan_flow

if TYPE_CHECKING:
    from taskloom.distributed.client import Client


class RemoteFlowHandle:
    """A flow run executed by workers: its status, its result, cancelling it."""

    def __init__(self, client: Client, run_id: str) -> None:
        self._client = client
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"<RemoteFlowHandle {self.run_id}>"

    def status(self) -> str:
        """ "Running", "Completed", "Failed" or "Cancelled", as recorded now."""
        run = self._client.journal.get_run(self.run_id)
        return run.status if run is not None else "Unknown"

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the end; the flow's value, or its failure policy's exception.

        ``TimeoutError`` after ``timeout`` seconds (the run goes on).
        """
        run, tasks = self._client.finished(self.run_id, timeout)
        return outcome(run, tasks, None)

    async def result_async(self, timeout: float | None = None) -> Any:
        return await asyncio.to_thread(self.result, timeout)

    def cancel(self, reason: str = "cancelled by request") -> bool:
        """Cancel the run; False if it had already ended."""
        return self._client.cancel(self.run_id, reason)


def submit_flow(
    client: Client,
    flow: Flow[Any, Any] | str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    failure_policy: str,
    max_concurrency: int | None,
    workflow_timeout: float | None = None,
) -> RemoteFlowHandle:
    """Queue one flow run for the workers sharing ``client``'s database.

    Only the nodes the flow body built are queued; a dynamic ``fan_out``'s
    calls are added by the worker that completes its upstream node.
    ``workflow_timeout``: the workers stop the run after that many seconds
    (:meth:`Client.submit`).
    """
    found = lookup_flow(flow) if isinstance(flow, str) else flow
    if not isinstance(found, Flow):
        raise ValueError(f"unknown flow {flow!r}; import the module that defines it first")
    plan = plan_flow(found, args, kwargs, failure_policy, max_concurrency, None)
    if not plan.nodes:
        raise ValueError(
            f"flow {found.name!r} called no task, so there is nothing for workers to run; "
            "call it with flow.run() to get the body's value"
        )
    run_id = client.submit_plan(
        plan, flow_input_json(plan, args, kwargs), workflow_timeout=workflow_timeout
    )
    return RemoteFlowHandle(client, run_id)


flow_actions.register("submit", submit_flow)
