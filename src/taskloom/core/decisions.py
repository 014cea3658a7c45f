"""Scheduling decisions shared by the local scheduler and distributed workers.

A run's semantics must not depend on where it executes: whether a node
whose dependencies have all ended runs or is skipped, and how a finished
run's status, error and result are derived, are decided here once and used
by :mod:`taskloom.core.scheduler` (one process owns the run) and by
:mod:`taskloom.distributed.worker` (many processes share its tasks).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from taskloom.core.plan import Invocation, Plan, PlanNode
from taskloom.journal.records import RunStatus, TaskRecord, TaskStatus


@dataclass(frozen=True, slots=True)
class Readiness:
    """What to do with a node whose dependencies have all ended.

    Exactly one of the outcomes holds: ``skip_reason`` set (skip it),
    ``error`` set (it fails without an attempt: its trigger rule or input
    could not be evaluated), or neither (run it; ``invocation`` is the call
    already prepared to evaluate a trigger rule, else ``None``).
    """

    invocation: Invocation | None = None
    skip_reason: str | None = None
    error: Exception | None = None
    #: With ``skip_reason``: what the skipped node passes on (:meth:`Plan.skipped_output`).
    output: str | None = None


def carries_output(status: str, output: str | None) -> bool:
    """Whether a task row's output feeds its dependents: a completed task's, or
    the context a task skipped by its own trigger rule passed on."""
    return output is not None and status in (TaskStatus.COMPLETED, TaskStatus.SKIPPED)


def readiness(
    plan: Plan,
    node: PlanNode,
    statuses: Mapping[str, str],
    outputs: Mapping[str, str],
    run_input: str,
) -> Readiness:
    """Decide a ready node's fate.

    ``statuses`` must hold every dependency and every task its trigger rule
    names; ``outputs`` the outputs that feed it (:func:`carries_output`).
    Without a trigger rule the default rule applies: run when every
    dependency completed or was skipped by its own trigger rule (it passed
    its output on), else skip -- a failure upstream skips everything below it.
    """
    if node.trigger_rule is None:
        for dep in node.deps:
            status = statuses[dep]
            if status == TaskStatus.COMPLETED or (status == TaskStatus.SKIPPED and dep in outputs):
                continue
            return Readiness(skip_reason=f"dependency {dep!r} {status.lower()}")
        return Readiness()
    try:
        invocation = plan.prepare(node, outputs, run_input)
        should_run = node.trigger_rule.evaluate(statuses, invocation.state)
    except Exception as exc:
        return Readiness(error=exc)
    if not should_run:
        return Readiness(
            skip_reason=f"trigger rule {node.trigger_rule} is false",
            output=plan.skipped_output(node, invocation),
        )
    return Readiness(invocation=invocation)


def tasks_to_inspect(node: PlanNode) -> tuple[str, ...]:
    """The tasks whose status :func:`readiness` reads for ``node``."""
    if node.trigger_rule is None:
        return node.deps
    return tuple(dict.fromkeys((*node.deps, *sorted(node.trigger_rule.referenced_tasks()))))


def run_outcome(
    plan: Plan,
    failed: Mapping[str, str | None],
    outputs: Mapping[str, str],
    run_input: str,
    stopped: tuple[str, str] | None = None,
) -> tuple[str, str, str | None]:
    """``(status, final_json, error)`` of a run whose tasks have all ended.

    ``failed`` maps the keys of failed tasks to their errors; the first one
    in plan order names the run's error. ``stopped`` is the ``(status,
    reason)`` of a run that was cancelled or timed out instead.
    """
    error: str | None
    if stopped is not None:
        status, error = stopped
    else:
        first = next((key for key in plan.nodes if key in failed), None)
        status = RunStatus.FAILED if first is not None else RunStatus.COMPLETED
        error = f"task {plan.nodes[first].label!r} failed: {failed[first]}" if first else None
    try:
        final = plan.final_output(outputs, run_input)
    except Exception as exc:
        return RunStatus.FAILED, run_input, f"could not build the run's result: {exc}"
    return status, final, error


def workflow_timeout_reason(workflow_name: str, timeout: float) -> str:
    """The error of a run stopped by its workflow timeout, wherever it ran.

    One text for the local scheduler's timer and the workers' deadlines, so a
    timed-out run reads the same in both modes.
    """
    return f"workflow {workflow_name!r} timed out after {timeout:g} s"


class StatusView(Mapping[str, str]):
    """Read-only ``task id -> status`` view of a run's records for trigger rules, no copy."""

    def __init__(self, tasks: dict[str, TaskRecord]) -> None:
        self._tasks = tasks

    def __getitem__(self, key: str) -> str:
        return self._tasks[key].status

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)
