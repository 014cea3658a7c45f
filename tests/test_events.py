"""``taskloom.subscribe``: lifecycle events of flow and DAG runs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import taskloom
from taskloom import LifecycleEvent, flow, task
from taskloom.core import events
from taskloom.core.shared_engines import shutdown_engines


@pytest.fixture(autouse=True)
def _engines() -> Iterator[None]:
    yield
    shutdown_engines()


@pytest.fixture
def seen() -> Iterator[list[LifecycleEvent]]:
    received: list[LifecycleEvent] = []
    unsubscribe = taskloom.subscribe(received.append)
    yield received
    unsubscribe()


def test_a_flow_run_emits_run_and_task_events_in_order(
    db_url: str, seen: list[LifecycleEvent]
) -> None:
    attempts: list[int] = []

    @task
    def one() -> int:
        return 1

    @task(retries=1)
    def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise ConnectionError("first try")
        return x + 1

    @flow
    def pipeline() -> Any:
        return flaky(one())

    assert pipeline.run(db=db_url) == 2
    assert taskloom.flush_events()
    kinds = [(e.kind, e.task_key, e.attempt) for e in seen]
    assert kinds == [
        ("run_started", None, None),
        ("task_started", "one#0", 1),
        ("task_succeeded", "one#0", 1),
        ("task_started", "flaky#0", 1),
        ("task_retry", "flaky#0", 1),
        ("task_started", "flaky#0", 2),
        ("task_succeeded", "flaky#0", 2),
        ("run_finished", None, None),
    ]
    run_ids = {e.run_id for e in seen}
    assert len(run_ids) == 1
    retry = seen[4]
    assert retry.task_name == "flaky" and retry.error == "ConnectionError: first try"
    assert retry.duration is not None and retry.duration >= 0
    finished = seen[-1]
    assert finished.status == "Completed" and finished.workflow_name == "pipeline"
    assert finished.duration is not None and finished.duration > 0
    assert all(e.timestamp > 0 for e in seen)


def test_a_failed_task_and_a_dag_run_emit_too(db_url: str, seen: list[LifecycleEvent]) -> None:
    @task
    def broken() -> None:
        raise ValueError("bad input")

    @flow
    def failing() -> Any:
        return broken()

    with pytest.raises(taskloom.errors.TaskExecutionError):
        failing.run(db=db_url)

    with taskloom.WorkflowBuilder("events_dag") as builder:
        builder.description("dag")

        @taskloom.task(id="first")
        def first(context: taskloom.Context) -> taskloom.Context:
            return context

    with taskloom.DefaultRunner(db_url) as runner:
        assert runner.execute("events_dag").status == "Completed"
    assert taskloom.flush_events()
    failed = [e for e in seen if e.kind == "task_failed"]
    assert [(e.task_key, e.error) for e in failed] == [("broken#0", "ValueError: bad input")]
    dag = [(e.kind, e.task_key) for e in seen if e.workflow_name == "events_dag"]
    assert dag == [
        ("run_started", None),
        ("task_started", "first"),
        ("task_succeeded", "first"),
        ("run_finished", None),
    ]
    statuses = [e.status for e in seen if e.kind == "run_finished"]
    assert statuses == ["Failed", "Completed"]


def test_a_failing_subscriber_is_logged_and_others_still_receive(
    db_url: str, seen: list[LifecycleEvent], caplog: pytest.LogCaptureFixture
) -> None:
    def bad(event: LifecycleEvent) -> None:
        raise RuntimeError("observer bug")

    unsubscribe = taskloom.subscribe(bad)

    @task
    def one() -> int:
        return 1

    @flow
    def tiny() -> Any:
        return one()

    with caplog.at_level(logging.ERROR, logger="taskloom"):
        assert tiny.run(db=db_url) == 1
        assert taskloom.flush_events()
    unsubscribe()
    unsubscribe()  # harmless
    assert [e.kind for e in seen][-1] == "run_finished"
    assert "observer bug" in caplog.text or "raised on" in caplog.text


def test_a_slow_subscriber_does_not_slow_the_run(db_url: str) -> None:
    release = threading.Event()
    unsubscribe = taskloom.subscribe(lambda event: release.wait(30))

    @task
    def one() -> int:
        return 1

    @flow
    def quick() -> Any:
        return [one() for _ in range(20)]

    try:
        start = time.perf_counter()
        assert quick.run(db=db_url) == [1] * 20
        assert time.perf_counter() - start < 2.0
    finally:
        release.set()
        unsubscribe()
        assert taskloom.flush_events()


def test_no_subscribers_means_nothing_is_queued(db_url: str) -> None:
    assert events.subscribers == ()

    @task
    def one() -> int:
        return 1

    @flow
    def tiny() -> Any:
        return one()

    assert tiny.run(db=db_url) == 1
    assert events._queue.empty()


def test_subscribe_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="subscribe"):
        taskloom.subscribe(42)  # type: ignore[arg-type]
