"""Running flows on the shared engine of their database, results back as Python values.

``flow.run`` builds the graph in the caller, submits it to the engine of the
database (``db=``, else ``$TASKLOOM_DATABASE_URL``, else ``./taskloom.db``)
and waits. Every flow run is a journal run of kind ``"flow"``, so it shows
up next to DAG runs and is resumed by the same recovery: the planner below
re-runs the flow body with the recorded inputs and checks that it builds
the same nodes before trusting the recorded outputs.

What the caller gets back depends on the failure policy:

* ``fail_fast``: the first task to fail for good cancels everything pending
  and a :class:`TaskExecutionError` naming it is raised, the task's own
  exception as its ``original`` and ``__cause__`` (after a resume in another
  process only the recorded text exists: a ``TaskFailedError``).
* ``continue``: everything that can run runs; dependents of a failed task
  are skipped; the result has the failed call's ``TaskExecutionError``
  where its value would be (as auto_workflow), ``None`` for skipped calls.
* ``aggregate``: like ``continue``, then one :class:`AggregateTaskError`
  carrying every failure (as ``TaskExecutionError``) is raised.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from taskloom.core.shared_engines import engine_for
from taskloom.core.styles import PlanHost, register_planner
from taskloom.dataflow import flow_actions
from taskloom.dataflow.config import setting
from taskloom.dataflow.flow import CONTEXT_PARAMS, Flow, lookup_flow
from taskloom.dataflow.hooks import named_events
from taskloom.dataflow.plan import FlowPlan
from taskloom.dataflow.policy import checked_policy
from taskloom.dataflow.result_cache import JournalCache
from taskloom.dataflow.result_view import failures_in_place
from taskloom.dataflow.values import decode_value, encode_value
from taskloom.errors import (
    AggregateTaskError,
    RetryExhaustedError,
    RunNotFoundError,
    TaskExecutionError,
    TaskExecutionTimeoutError,
    TaskFailedError,
    TaskloomError,
    ValueRefusedError,
)
from taskloom.errors import TaskTimeoutError as _Timeout
from taskloom.journal.records import RunRecord, RunStatus, TaskRecord, TaskStatus
from taskloom.journal.urls import redact_url

logger = logging.getLogger("taskloom")


def plan_flow(
    flow: Flow[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    failure_policy: str,
    max_concurrency: int | None,
    engine: PlanHost | None,
) -> FlowPlan:
    """Check the run options and build the run's graph (``engine``: where its cache lives)."""
    failure_policy = checked_policy(flow.name, failure_policy)
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise ValueError(
            f"flow {flow.name!r}: max_concurrency={max_concurrency!r}; give an int >= 1 or None"
        )
    builder, template = flow.build(*args, **kwargs)
    plan = FlowPlan(
        flow,
        builder,
        template,
        failure_policy=failure_policy,
        max_concurrency=max_concurrency,
        cache_store=JournalCache(engine.journal) if engine is not None else None,
    )
    plan.params = {k: v for k, v in kwargs.items() if k != CONTEXT_PARAMS}
    plan.params.update(builder.context_params)
    plan.fan_outs.limit = setting("max_dynamic_tasks")
    return plan


def flow_input_json(plan: FlowPlan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """What recovery needs to rebuild the same graph: inputs and run options."""
    return encode_value(
        {
            "args": list(args),
            "kwargs": kwargs,
            "failure_policy": plan.failure_policy,
            "max_concurrency": plan.max_concurrency,
        },
        f"the inputs of flow {plan.workflow_name!r}",
        allow_pickle=plan.flow.serializer == "pickle",
    )


def run_flow(
    flow: Flow[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    failure_policy: str,
    max_concurrency: int | None,
    db: str | None,
) -> Any:
    engine = engine_for(db)
    plan = plan_flow(flow, args, kwargs, failure_policy, max_concurrency, engine)
    if not plan.nodes:
        return plan.template  # a body that calls no task: its own value, no run
    execution = engine.submit(plan, flow_input_json(plan, args, kwargs))
    try:
        execution.future.result()
    finally:
        named_events.settle()
    return outcome(execution.run, list(execution.tasks.values()), plan)


async def run_flow_async(
    flow: Flow[Any, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    failure_policy: str,
    max_concurrency: int | None,
    db: str | None,
) -> Any:
    engine = await asyncio.to_thread(engine_for, db)
    plan = plan_flow(flow, args, kwargs, failure_policy, max_concurrency, engine)
    if not plan.nodes:
        return plan.template
    input_json = flow_input_json(plan, args, kwargs)
    execution = await asyncio.to_thread(engine.submit, plan, input_json)
    try:
        await asyncio.wrap_future(execution.future)
    finally:
        await asyncio.to_thread(named_events.settle)
    return outcome(execution.run, list(execution.tasks.values()), plan)


def resume(run_id: str, db: str | None = None, timeout: float | None = None) -> Any:
    """Finish a recorded flow run (resuming it if its process died) and return its result.

    The flow must be defined (its module imported) in this process.
    Completed nodes are not run again.
    """
    engine = engine_for(db)
    run = engine.journal.get_run(run_id)
    if run is None:
        raise RunNotFoundError(f"no run with id {run_id!r} in {redact_url(engine.journal.url)}")
    if run.kind != "flow":
        raise ValueError(f"run {run_id} is a {run.kind!r} run, not a flow run")
    if run.status not in RunStatus.TERMINAL and run_id not in engine.active:
        engine.call(engine.recover).result()
        if run_id not in engine.active:
            logger.info("run %s is owned by a live runner; waiting for it", run_id)
    execution = engine.active.get(run_id)
    plan = execution.plan if execution is not None else None
    try:
        engine.wait(run_id, timeout)
    finally:
        named_events.settle()
    final = engine.journal.get_run(run_id)
    assert final is not None
    return outcome(
        final, engine.journal.get_tasks(run_id), plan if isinstance(plan, FlowPlan) else None
    )


def outcome(run: RunRecord, tasks: list[TaskRecord], plan: FlowPlan | None) -> Any:
    """The caller's view of a finished run: its value, or the error its policy says."""
    policy = plan.failure_policy if plan is not None else _recorded_policy(run)
    failed = [
        t for t in sorted(tasks, key=lambda t: t.ended_at or 0.0) if t.status == TaskStatus.FAILED
    ]
    if run.status == RunStatus.CANCELLED or (run.status == RunStatus.FAILED and not failed):
        raise TaskloomError(f"flow run {run.run_id} of {run.workflow_name!r}: {run.error}")
    if failed and policy == "fail_fast":
        raise execution_error(failed[0], plan)
    if failed and policy == "aggregate":
        raise AggregateTaskError(
            f"flow {run.workflow_name!r}: {len(failed)} task(s) failed: "
            + "; ".join(f"{t.task_key}: {t.error}" for t in failed),
            {t.task_key: execution_error(t, plan) for t in failed},
        )
    value = decode_value(run.final_json) if run.final_json is not None else None
    if failed:
        # auto_workflow's CONTINUE puts the failure where the failed call's value would be.
        template = plan.template if plan is not None else _rebuilt_template(run)
        if template is not None:
            errors: dict[str, BaseException] = {
                t.task_key: execution_error(t, plan) for t in failed
            }
            value = failures_in_place(template, value, errors)
    return value


def _rebuilt_template(run: RunRecord) -> Any:
    """The body's returned template of a run planned elsewhere (None if this process cannot)."""
    flow = lookup_flow(run.workflow_name)
    if flow is None or flow.version != run.workflow_version:
        return None
    try:
        data = decode_value(run.input_json)
        _, template = flow.build(*data["args"], **data["kwargs"])
    except Exception:
        return None
    return template


def _original_of(record: TaskRecord, plan: FlowPlan | None) -> BaseException:
    """The exception a task raised, or the best stand-in rebuilt from the journal."""
    if plan is not None and record.task_key in plan.errors:
        return plan.errors[record.task_key]
    text = record.error or "failed"
    name, _, message = text.partition(": ")
    if name == "TaskTimeoutError":
        return _Timeout(message)
    return TaskFailedError(f"task {record.task_key!r} failed: {text}")


def execution_error(record: TaskRecord, plan: FlowPlan | None) -> TaskExecutionError:
    """What a failed task raises out of its flow: the task named, its exception the cause."""
    original = _original_of(record, plan)
    task_name = record.task_key.partition("#")[0]
    node = plan.nodes.get(record.task_key) if plan is not None else None
    if node is not None and node.name:
        task_name = node.name
    kind: type[TaskExecutionError] = TaskExecutionError
    if isinstance(original, _Timeout):
        kind = TaskExecutionTimeoutError
    elif record.attempt > 1:
        kind = RetryExhaustedError
    return kind(task_name, original, node=record.task_key)


def _recorded_policy(run: RunRecord) -> str:
    try:
        data = decode_value(run.input_json)
    except ValueRefusedError:
        return "fail_fast"  # the run failed for it; its error says why
    policy = data.get("failure_policy", "fail_fast") if isinstance(data, dict) else "fail_fast"
    return str(policy)


def _flow_planner(run: RunRecord, engine: PlanHost) -> FlowPlan | None:
    """Rebuild a recorded flow run's plan, or None if this process cannot."""
    flow = lookup_flow(run.workflow_name)
    if flow is None or flow.version != run.workflow_version:
        return None
    try:
        data = decode_value(run.input_json)
    except ValueRefusedError as exc:
        raise ValueRefusedError(
            f"flow run {run.run_id} of {run.workflow_name!r} was not resumed: its recorded "
            f"inputs were refused: {exc}"
        ) from None
    plan = plan_flow(
        flow,
        tuple(data["args"]),
        dict(data["kwargs"]),
        data["failure_policy"],
        data["max_concurrency"],
        engine,
    )
    records = sorted(engine.journal.get_tasks(run.run_id), key=lambda t: t.seq)
    recorded = [t.task_key for t in records]
    built = list(plan.nodes)
    same = recorded[: len(built)] == built
    if same and plan.grows:
        # Rows after the body's own are calls of dynamic fan-outs, added in
        # completion order: rebuild them from the recorded upstream results.
        plan.regrow(records)
        same = set(recorded[len(built) :]) == set(plan.nodes) - set(built)
    if not same or len(recorded) != len(plan.nodes):
        logger.warning(
            "flow run %s of %r: re-running the flow body built different nodes than were "
            "recorded (is the body deterministic?); not resuming it here",
            run.run_id,
            run.workflow_name,
        )
        return None
    return plan


register_planner("flow", _flow_planner)


flow_actions.register("run", run_flow)
flow_actions.register("run_async", run_flow_async)
