"""Artifact stores: durable by default, valid across processes, clear misses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from taskloom.dataflow import artifacts
from taskloom.dataflow.artifacts import (
    ArtifactRef,
    FileArtifactStore,
    MemoryArtifactStore,
    get_store,
    set_store,
)

PRODUCER = textwrap.dedent(
    """
    import sys
    from taskloom import flow, task

    @task(persist=True)
    def large():
        return b"binary-payload" * 1024

    @task
    def key_of(ref):
        return ref.key

    @flow
    def produce():
        return key_of(large())

    print(produce.run(db=sys.argv[1]))
    """
)

CONSUMER = textwrap.dedent(
    """
    import sys
    from taskloom.dataflow.artifacts import ArtifactRef, get_store

    print(len(get_store().get(ArtifactRef(sys.argv[1]))))
    """
)


def _python(code: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_persisted_result_is_readable_from_another_process(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    env = dict(os.environ)
    env.pop(artifacts.ENV_VAR, None)
    env["TASKLOOM_DATABASE_URL"] = db_url
    key = _python(PRODUCER, db_url, env=env)
    # The default store sits beside the default journal.
    assert (tmp_path / "taskloom-artifacts" / key).is_file()
    assert _python(CONSUMER, key, env=env) == str(len(b"binary-payload" * 1024))


def test_default_directory_follows_the_journal_and_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(artifacts.ENV_VAR)
    monkeypatch.setenv("TASKLOOM_DATABASE_URL", f"sqlite:///{tmp_path / 'j' / 'x.db'}")
    assert artifacts.default_directory() == str(tmp_path / "j" / "taskloom-artifacts")
    monkeypatch.setenv(artifacts.ENV_VAR, str(tmp_path / "elsewhere"))
    assert artifacts.default_directory() == str(tmp_path / "elsewhere")
    assert isinstance(get_store(), FileArtifactStore)


def test_file_store_round_trip_and_clear_miss(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "a")
    ref = store.put({"rows": [1, 2, 3]})
    assert FileArtifactStore(tmp_path / "a").get(ref) == {"rows": [1, 2, 3]}
    with pytest.raises(KeyError, match="not in"):
        store.get(ArtifactRef("missing"))


def test_memory_store_can_replace_the_default() -> None:
    memory = MemoryArtifactStore()
    set_store(memory)
    assert get_store() is memory
    ref = memory.put(b"x")
    assert memory.get(ref) == b"x"
    with pytest.raises(KeyError, match="in-memory store"):
        MemoryArtifactStore().get(ref)
