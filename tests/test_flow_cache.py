"""``cache_ttl`` results: in the journal across processes, None cached, single-flight, keys."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskloom import fan_out, flow, task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.dataflow.cache_key import cache_key, canonical
from taskloom.dataflow.result_cache import cache
from taskloom.dataflow.result_caches import get_result_cache
from taskloom.journal import open_journal
from taskloom.journal.memory import MemoryJournal
from taskloom.journal.sqlite import SQLiteJournal


@pytest.fixture(autouse=True)
def _engines() -> Iterator[None]:
    cache.clear()
    get_result_cache().clear()
    yield
    shutdown_engines()


SCRIPT = textwrap.dedent(
    """
    import json, sys
    from taskloom import flow, task

    SIDE = sys.argv[1]

    def note(text):
        with open(SIDE, "a") as f:
            f.write(text + "\\n")

    @task(cache_ttl=60)
    def slow_square(x):
        note(f"square {x}")
        return {"square": x * x}

    @task(cache_ttl=2)
    def short_lived(x):
        note(f"short {x}")
        return x + 1

    @flow
    def both(x):
        return [slow_square(x), short_lived(x)]

    print(json.dumps(both.run(int(sys.argv[3]), db=sys.argv[2])))
    """
)


def _run(script: Path, side: Path, db: str, x: int) -> str:
    done = subprocess.run(
        [sys.executable, str(script), str(side), db, str(x)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_cached_results_are_shared_by_processes_on_one_database_and_expire(
    tmp_path: Path, db_url: str
) -> None:
    script = tmp_path / "cached_flow.py"
    script.write_text(SCRIPT)
    side = tmp_path / "calls.txt"

    assert _run(script, side, db_url, 3) == '[{"square": 9}, 4]'
    # The two tasks share no data, so they run concurrently: order is free.
    assert sorted(side.read_text().split("\n")[:-1]) == ["short 3", "square 3"]
    # A second process on the same database: both results come from the journal.
    assert _run(script, side, db_url, 3) == '[{"square": 9}, 4]'
    assert side.read_text().count("\n") == 2
    # Other arguments miss.
    assert _run(script, side, db_url, 4) == '[{"square": 16}, 5]'
    assert side.read_text().count("\n") == 4
    # After its TTL the short-lived entry is computed again; the long one is still cached.
    time.sleep(2.1)
    assert _run(script, side, db_url, 3) == '[{"square": 9}, 4]'
    assert side.read_text().split("\n")[4:-1] == ["short 3"]


def test_none_is_cached_like_any_other_result(db_url: str) -> None:
    calls: list[int] = []

    @task(cache_ttl=60)
    def nothing(x: int) -> None:
        calls.append(x)

    @flow
    def twice() -> Any:
        first = nothing(1)
        return [first, nothing(1, wait_for=[first])]

    assert twice.run(db=db_url) == [None, None]
    assert twice.run(db=db_url) == [None, None]
    assert calls == [1]
    assert nothing(2) is None and nothing(2) is None
    assert calls == [1, 2]


def test_identical_calls_running_at_once_execute_once_in_a_flow(db_url: str) -> None:
    calls: list[int] = []

    @task(cache_ttl=60)
    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.2)
        return x * 10

    @flow
    def many() -> Any:
        return fan_out(slow, [7, 7, 7, 7, 8])

    assert many.run(db=db_url) == [70, 70, 70, 70, 80]
    assert sorted(calls) == [7, 8]


def test_identical_immediate_calls_from_threads_execute_once() -> None:
    calls: list[int] = []

    @task(cache_ttl=60)
    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.2)
        return x + 1

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(slow(1))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [2] * 5 and calls == [1]


def test_a_failing_leader_fails_its_followers_and_nothing_is_cached() -> None:
    calls: list[int] = []

    @task(cache_ttl=60)
    def broken(x: int) -> int:
        calls.append(x)
        time.sleep(0.1)
        raise ValueError("nope")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            broken(1)
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 3 and calls == [1]
    with pytest.raises(ValueError):
        broken(1)
    assert calls == [1, 1]


def test_the_key_binds_arguments_to_the_signature() -> None:
    @task(cache_ttl=60)
    def f(a: int, b: int = 2, *rest: int, **extra: Any) -> int:
        return a

    key = cache_key(f, (1,), {})
    assert cache_key(f, (1, 2), {}) == key
    assert cache_key(f, (), {"a": 1, "b": 2}) == key
    assert cache_key(f, (1, 3), {}) != key
    assert cache_key(f, (1,), {"z": {"y": 1, "x": 2}}) == cache_key(
        f, (1,), {"z": {"x": 2, "y": 1}}
    )
    assert canonical((1, 2)) != canonical([1, 2])
    assert canonical(1) != canonical(1.0) != canonical(True)


def test_the_key_is_the_same_in_processes_with_other_hash_seeds(tmp_path: Path) -> None:
    module = tmp_path / "keyed.py"
    module.write_text(
        textwrap.dedent(
            """
            from taskloom import task
            from taskloom.dataflow.cache_key import cache_key

            @task(cache_ttl=60)
            def tagged(tags, mapping):
                return tags

            print(cache_key(tagged, ({"alpha", "beta", "gamma", "delta"},),
                            {"mapping": {frozenset({"x", "y"}): b"raw"}}))
            """
        )
    )
    keys = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, str(module)], capture_output=True, text=True, env=env, check=True
        )
        keys.add(done.stdout.strip())
    assert len(keys) == 1


def test_unkeyable_arguments_fail_with_a_hint() -> None:
    @task(cache_ttl=60)
    def uses_lock(lock: Any) -> int:
        return 1

    with pytest.raises(TypeError, match=r"task 'uses_lock'.*cache_key_fn"):
        uses_lock(threading.Lock())


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_journal_cache_methods(kind: str, tmp_path: Path) -> None:
    journal = (
        MemoryJournal() if kind == "memory" else open_journal(f"sqlite:///{tmp_path / 'j.db'}")
    )
    try:
        assert journal.cache_get("k", 100.0) is None
        journal.cache_put("k", '"v"', time.time() + 60)
        assert journal.cache_get("k", time.time()) == '"v"'
        assert journal.cache_get("k", time.time() + 61) is None
        journal.cache_put("k", "null", time.time() + 60)
        assert journal.cache_get("k", time.time()) == "null"
        if isinstance(journal, SQLiteJournal):
            assert journal.schema_version >= 2  # the cache table came with migration 2
    finally:
        journal.close()
