"""Every example of auto_workflow's task documentation, imports changed to taskloom."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from taskloom import RetryPolicy, flow, task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.dataflow.artifacts import ArtifactRef, get_store


@pytest.fixture(autouse=True)
def _engines() -> Iterator[None]:
    yield
    shutdown_engines()


def test_basic_declaration_runs_immediately_and_in_a_flow(db_url: str) -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5

    @flow
    def sums() -> object:
        return add(add(1, 2), 4)

    assert sums.run(db=db_url) == 7


def test_retries_and_backoff_example_declares_the_documented_sequence() -> None:
    @task(retries=3, retry_backoff=1.5, retry_jitter=0.5)
    async def fetch(url: str) -> str: ...

    async def main() -> None:
        return await fetch("http://example.invalid")  # inside a loop: an awaitable

    assert asyncio.run(main()) is None
    assert fetch("http://example.invalid") is None  # no loop running: run to completion
    policy = fetch.dataflow_retry
    assert policy.max_attempts == 4
    # Backoff without jitter 1.5, 3.0, 6.0; jitter adds up to 0.5 s.
    base = RetryPolicy.from_dataflow_options(retries=3, retry_backoff=1.5)
    assert [base.calculate_delay(n) for n in (1, 2, 3)] == [1.5, 3.0, 6.0]
    for n, expected in ((1, 1.5), (2, 3.0), (3, 6.0)):
        assert expected <= policy.calculate_delay(n) <= expected + 0.5


def test_persistence_example_in_a_flow_and_immediately(db_url: str) -> None:
    @task(persist=True)
    def large():  # type: ignore[no-untyped-def]
        return b"binary-payload" * 1024

    @task
    def size(ref):  # type: ignore[no-untyped-def]
        store = get_store()
        data = store.get(ref)
        return len(data)

    ref = large()
    assert isinstance(ref, ArtifactRef)
    assert size(ref) == len(b"binary-payload") * 1024

    @flow
    def pipeline():  # type: ignore[no-untyped-def]
        return size(large())

    assert pipeline.run(db=db_url) == len(b"binary-payload") * 1024


def test_execution_modes_and_priority_options_are_accepted(db_url: str) -> None:
    @task(run_in="thread", priority=5, timeout=5)
    def threaded(x: int) -> int:
        return x + 1

    @task(run_in="async")
    async def coro(x: int) -> int:
        return x * 10

    @flow
    def both():  # type: ignore[no-untyped-def]
        return coro(threaded(1))

    assert both.run(db=db_url) == 20
