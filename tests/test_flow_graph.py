"""Building flow graphs: nodes, data edges, wait_for, fan_out, determinism, errors."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from taskloom import Context, WorkflowBuilder, fan_out, flow, task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.dataflow.flow import Node


@pytest.fixture(autouse=True)
def _engines() -> Iterator[None]:
    yield
    shutdown_engines()


@task
def ident(x: Any) -> Any:
    return x


@task
def combine(*parts: Any, **named: Any) -> Any:
    return {"parts": list(parts), "named": named}


def test_nodes_in_nested_structures_become_edges_and_results(db_url: str) -> None:
    class Pair(NamedTuple):
        left: Any
        right: Any

    @flow(name="nested")
    def nested() -> Any:
        a, b = ident(1), ident("two")
        c = combine([a, {"b": b}], (a,), key={"deep": [b]})
        return {"c": c, "pair": Pair(a, b), "tuple": (a, 3)}

    builder, _ = nested.build()
    assert builder.calls["combine#0"].node.deps == ("ident#0", "ident#1")
    result = nested.run(db=db_url)
    assert result["c"] == {"parts": [[1, {"b": "two"}], (1,)], "named": {"key": {"deep": ["two"]}}}
    assert result["pair"] == Pair(1, "two") and isinstance(result["pair"], Pair)
    assert result["tuple"] == (1, 3)


def test_independent_calls_run_concurrently(db_url: str) -> None:
    @task
    async def nap(i: int) -> int:
        await asyncio.sleep(0.3)
        return i

    @flow
    def naps() -> Any:
        return fan_out(nap, range(8))

    start = time.monotonic()
    assert naps.run(db=db_url) == list(range(8))
    assert time.monotonic() - start < 1.5


def test_wait_for_orders_calls_without_data(db_url: str) -> None:
    order: list[str] = []
    lock = threading.Lock()

    @task
    def mark(name: str, delay: float = 0.0) -> str:
        time.sleep(delay)
        with lock:
            order.append(name)
        return name

    @flow
    def ordered() -> Any:
        first = mark("first", 0.2)
        return mark("second", wait_for=[first])

    builder, _ = ordered.build()
    assert builder.calls["mark#1"].node.deps == ("mark#0",)
    assert ordered.run(db=db_url) == "second"
    assert order == ["first", "second"]


def test_node_keys_are_deterministic_and_build_is_linear() -> None:
    @flow
    def chain(n: int) -> Any:
        node = ident(0)
        for _ in range(n):
            node = ident(node)
        return node

    keys = list(chain.build(3)[0].calls)
    assert keys == ["ident#0", "ident#1", "ident#2", "ident#3"]
    start = time.perf_counter()
    chain.build(2_000)
    small = time.perf_counter() - start
    start = time.perf_counter()
    chain.build(20_000)
    big = time.perf_counter() - start
    assert big < small * 40  # linear (10x the calls), with slack for noise


def test_node_cannot_be_used_as_a_value_in_the_body() -> None:
    @flow
    def bad() -> Any:
        node = ident(1)
        if node:
            return node
        return None

    with pytest.raises(TypeError, match="ident#0"):
        bad.build()


def test_fan_out_over_a_node_builds_one_collector_node() -> None:
    @flow
    def dynamic() -> Any:
        return fan_out(ident, ident([1, 2]))

    described = dynamic.describe()
    assert [(n["id"], n["upstream"]) for n in described["nodes"]] == [("ident#0", [])]
    assert [(f["id"], f["source"]) for f in described["dynamic_fanouts"]] == [
        ("ident#1", "ident#0")
    ]
    assert described["edges"] == [["ident#0", "ident#1"]]


def test_nodes_from_another_flow_run_are_refused() -> None:
    leaked: list[Node] = []

    @flow
    def first() -> Any:
        leaked.append(ident(1))
        return leaked[0]

    @flow
    def second() -> Any:
        return ident(leaked[0])

    first.build()
    with pytest.raises(ValueError, match="another flow run"):
        second.build()


def test_describe_and_export_dot() -> None:
    @flow
    def two() -> Any:
        return ident(ident(1))

    described = two.describe()
    assert described["nodes"][1] == {
        "id": "ident#1",
        "name": "ident:2",
        "task": "ident",
        "upstream": ["ident#0"],
        "priority": 0,
        "tags": [],
        "persist": False,
        "run_in": "async",
        "retries": 0,
    }
    assert '"ident:1" -> "ident:2";' in two.export_dot()


def test_tags_are_kept_and_described() -> None:
    @task(tags=("io", "slow"))
    def tagged(x: int) -> int:
        return x

    @flow
    def one() -> Any:
        return tagged(1)

    assert tagged.tags == ("io", "slow")
    assert one.describe()["nodes"][0]["tags"] == ["io", "slow"]
    with pytest.raises(TypeError, match="tags must be a list of str"):
        task(tags="io")(lambda: None)
    with pytest.raises(TypeError, match="tag 3 is not a str"):
        task(tags=["io", 3])(lambda: None)


def test_cloaca_tasks_keep_their_direct_call() -> None:
    with WorkflowBuilder("cloaca_direct"):

        @task(id="step", retry_attempts=3)
        def step(context: Context) -> Context:
            raise RuntimeError("called once, not retried")

    with pytest.raises(RuntimeError):
        step(Context())

    @task(id="plain_cloaca")
    async def coro_task(context: Context) -> Context:
        return context

    awaitable = coro_task(Context())
    assert asyncio.iscoroutine(awaitable)
    asyncio.run(awaitable)


def test_immediate_async_call_inside_a_running_loop_returns_an_awaitable() -> None:
    @task
    async def twice(x: int) -> int:
        return 2 * x

    @task
    def sync_inside(x: int) -> int:
        return x + 1

    async def main() -> tuple[int, int]:
        # A sync task never fails because a loop is running.
        return await twice(4), sync_inside(1)

    assert asyncio.run(main()) == (8, 2)
