"""Growing a distributed run: the rows a completion adds, and plans that missed them.

A dynamic ``fan_out`` expands when its upstream node completes. On workers
the new calls become task rows inserted by the transaction that records
that completion (:meth:`TaskQueue.send_grow`), so they exist exactly when
the completion does: a completion the fence rejects adds nothing, a commit
that is retried sends the same rows again, and since only one completion of
a task is ever accepted, a run grows once per expansion however many
workers race for the upstream or re-plan after a crash.

The plan that decides the rows is the completing worker's own (expanded in
place, as the local scheduler does). Other workers learn the new nodes by
re-planning the run (:mod:`taskloom.distributed.run_plans`); a worker that
finishes a run with a plan that missed an expansion catches up first
(:func:`catch_up`), so the run's result has every call in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from taskloom.core.plan import Plan
from taskloom.distributed.run_plans import Shape
from taskloom.journal.queue_records import ClaimedTask, Growth, QueuedTask, workflow_key
from taskloom.journal.records import TaskStatus

#: ``(key, status, output_json, error)`` of a run's task rows, as the queue reads them.
OutcomeRow = tuple[str, str, str | None, str | None]


@dataclass(slots=True)
class Grown:
    """What one completion adds to its run, and the dependents it still releases.

    The collectors and the new calls are left out of ``released``: the
    growth itself sets how many tasks a collector waits for, and the calls
    are inserted ready.
    """

    growths: list[Growth]
    released: list[str]


def expand(shape: Shape, claim: ClaimedTask, output: str) -> Grown | None:
    """Grow ``shape``'s plan over the output ``claim``'s task completed with.

    None when no row is added (the task is no fan-out's upstream, or its
    result is not iterable: then the collector fails when it runs, with the
    plan's error, exactly as in a local run).
    """
    plan = shape.plan
    after = claim.task_key
    expansions = plan.expand(after, output)
    if not expansions:
        return None
    shape.refresh()
    workflow = workflow_key(claim.workflow_name, claim.workflow_version, claim.kind)
    growths: list[Growth] = []
    handled: set[str] = set()
    for expansion in expansions:
        if expansion.collector is None:
            continue
        tasks: list[QueuedTask] = []
        for node in expansion.nodes:
            if node.deps != (after,):
                raise RuntimeError(
                    f"plan of {plan.workflow_name!r} added node {node.key!r} depending on "
                    f"{node.deps}; a distributed run can only add nodes that depend on the "
                    f"completed node {after!r} alone"
                )
            limit = plan.group_limits.get(node.group) if node.group is not None else None
            tasks.append(QueuedTask(node.key, 0, node.priority, node.group, limit))
            handled.add(node.key)
        handled.add(expansion.collector)
        growths.append(
            Growth(
                claim.run_id,
                after,
                claim.fence,
                expansion.collector,
                tasks,
                workflow,
                plan.max_concurrency,
            )
        )
    if not growths:
        return None
    released = [key for key in shape.dependents[after] if key not in handled]
    return Grown(growths, released)


def catch_up(
    plan: Plan,
    rows: list[OutcomeRow],
    read: Callable[[Sequence[str]], list[OutcomeRow]],
) -> list[OutcomeRow]:
    """The outcome rows of a run that ends, after growing ``plan`` to match the run.

    ``rows`` were read for ``plan.result_keys()``, which names the upstream of
    every fan-out the plan has not expanded. If one of them completed, this
    worker's plan missed that expansion (another worker made it): expand it
    now from the recorded result and read the rows of the calls it adds,
    until nothing new appears (a fan-out may be over another's list).
    """
    while True:
        grew = False
        for key, status, output, _ in rows:
            if status == TaskStatus.COMPLETED and output is not None and plan.expand(key, output):
                grew = True
        if not grew:
            return rows
        rows = read(plan.result_keys())
