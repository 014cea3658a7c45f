"""Result caches and artifact stores under auto_workflow's names, JSON or pickle."""

import pickle
import time

import pytest

from taskloom import flow, task
from taskloom.compat.auto_workflow.artifacts import (
    ArtifactRef,
    FileSystemArtifactStore,
    InMemoryArtifactStore,
    get_store,
    set_store,
)
from taskloom.compat.auto_workflow.cache import (
    FileSystemResultCache,
    InMemoryResultCache,
    get_result_cache,
)
from taskloom.compat.auto_workflow.config import reload_config
from taskloom.dataflow.serializers import PickleSerializer
from taskloom.errors import ValueRefusedError


def test_filesystem_result_cache_roundtrip(tmp_path):
    cache = FileSystemResultCache(tmp_path)
    cache.set("k1", {"v": 1})
    assert cache.get("k1", ttl=10) == {"v": 1}
    assert FileSystemResultCache(tmp_path).get("k1", ttl=10) == {"v": 1}  # another instance
    assert cache.get("k1", ttl=None) is None
    assert cache.get("missing", ttl=10) is None


def test_filesystem_result_cache_expires(tmp_path):
    cache = FileSystemResultCache(tmp_path)
    cache.set("k", 1)
    (path,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    old = time.time() - 100
    import os

    os.utime(path, (old, old))
    assert cache.get("k", ttl=50) is None
    assert cache.get("k", ttl=500) == 1


def test_filesystem_result_cache_is_json_unless_pickle_is_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKLOOM_PICKLE_KEY", "test-key")
    json_cache = FileSystemResultCache(tmp_path / "j")
    json_cache.set("s", {1, 2})  # not JSON: simply not cached
    assert json_cache.lookup("s", 10) == (False, None)
    pickled = FileSystemResultCache(tmp_path / "p", serializer=PickleSerializer())
    pickled.set("s", {1, 2})
    assert pickled.get("s", 10) == {1, 2}


def test_a_planted_pickle_is_not_loaded_by_the_json_cache(tmp_path):
    cache = FileSystemResultCache(tmp_path)
    cache.set("k", "value")
    (path,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    path.write_bytes(pickle.dumps(("payload", 1)))
    assert cache.lookup("k", 10) == (False, None)


def test_memory_cache_none_is_a_value():
    cache = InMemoryResultCache(max_entries=2)
    cache.set("none", None)
    assert cache.lookup("none", 10) == (True, None)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.lookup("none", 10) == (False, None)  # evicted, least recently used


calls = []


@task(cache_ttl=60)
def expensive(x):
    calls.append(x)
    return {"x": x}


def test_immediate_calls_use_the_configured_cache(monkeypatch, tmp_path):
    calls.clear()
    monkeypatch.setenv("TASKLOOM_RESULT_CACHE", "filesystem")
    monkeypatch.setenv("TASKLOOM_RESULT_CACHE_PATH", str(tmp_path / "rc"))
    reload_config()
    assert expensive(1) == {"x": 1}
    assert expensive(1) == {"x": 1}
    assert calls == [1]
    assert any(p.is_file() for p in (tmp_path / "rc").rglob("*"))
    assert isinstance(get_result_cache(), FileSystemResultCache)


def test_filesystem_artifacts_json_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTO_WORKFLOW_ARTIFACT_SERIALIZER", "json")
    reload_config()
    store = FileSystemArtifactStore(tmp_path)
    val = {"a": 1, "b": [1, 2, 3]}
    ref = store.put(val)
    assert store.get(ArtifactRef(ref.key)) == val
    assert (tmp_path / ref.key).read_bytes() == b'{"a": 1, "b": [1, 2, 3]}'


def test_json_artifacts_refuse_other_values_clearly(tmp_path):
    store = FileSystemArtifactStore(tmp_path)
    with pytest.raises(TypeError, match=r"set cannot be stored as JSON.*pickle"):
        store.put({1, 2})
    assert [p for p in tmp_path.iterdir()] == []  # nothing half-written


def test_pickle_artifacts_are_signed_and_an_explicit_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKLOOM_PICKLE_KEY", "test-key")
    store = FileSystemArtifactStore(tmp_path, serializer=PickleSerializer())
    ref = store.put((1, b"x"))
    assert store.get(ref) == (1, b"x")
    assert FileSystemArtifactStore(tmp_path).get(ref) == (1, b"x")  # signed: any store reads it
    # A planted pickle runs nothing: refused by the pickle store, not JSON for the JSON one.
    (tmp_path / "planted").write_bytes(pickle.dumps(("payload", 1)))
    with pytest.raises(ValueRefusedError, match="could run any code"):
        store.get(ArtifactRef("planted"))
    with pytest.raises(ValueError):
        FileSystemArtifactStore(tmp_path).get(ArtifactRef("planted"))
    # An altered signed file is refused before anything is unpickled.
    path = tmp_path / ref.key
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueRefusedError, match="signature does not match"):
        store.get(ref)


def test_pickle_needs_a_signing_key(tmp_path, monkeypatch):
    monkeypatch.delenv("TASKLOOM_PICKLE_KEY", raising=False)
    with pytest.raises(TypeError, match="signing key"):
        FileSystemArtifactStore(tmp_path, serializer=PickleSerializer()).put({1})


@task(persist=True, serializer="pickle")
def a_set():
    return {1, 2}


@task
def size(ref):
    return len(get_store().get(ref))


@flow
def set_flow():
    return size(a_set())


def test_a_task_opting_in_to_pickle_persists_what_json_cannot_hold(monkeypatch, tmp_path):
    monkeypatch.setenv("TASKLOOM_PICKLE_KEY", "test-key")
    monkeypatch.setenv("AUTO_WORKFLOW_ARTIFACT_STORE_PATH", str(tmp_path / "arts"))
    reload_config()
    assert isinstance(get_store(), FileSystemArtifactStore)
    assert set_flow.run() == 2


def test_missing_artifact_raises_key_error(tmp_path):
    with pytest.raises(KeyError, match="not in"):
        FileSystemArtifactStore(tmp_path).get(ArtifactRef("nope"))
    with pytest.raises(KeyError):
        InMemoryArtifactStore().get(ArtifactRef("nope"))


@task(persist=True)
def big():
    return {"rows": list(range(100))}


@task
def count(ref):
    return len(get_store().get(ref)["rows"])


@flow
def persisted():
    return count(big())


def test_persisted_results_go_to_the_configured_store(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTO_WORKFLOW_ARTIFACT_STORE", "filesystem")
    monkeypatch.setenv("AUTO_WORKFLOW_ARTIFACT_STORE_PATH", str(tmp_path / "arts"))
    reload_config()
    assert persisted.run() == 100
    assert len(list((tmp_path / "arts").iterdir())) == 1
    set_store(InMemoryArtifactStore())
    assert persisted.run() == 100
