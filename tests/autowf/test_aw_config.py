"""Settings: pyproject.toml ([tool.auto_workflow] / [tool.taskloom]) and the environment.

Each setting is checked for doing what its name says.
"""

import logging
from pathlib import Path

import pytest

from taskloom import fan_out, flow, task
from taskloom.compat.auto_workflow.artifacts import (
    FileSystemArtifactStore,
    InMemoryArtifactStore,
    get_store,
)
from taskloom.compat.auto_workflow.cache import (
    FileSystemResultCache,
    InMemoryResultCache,
    get_result_cache,
)
from taskloom.compat.auto_workflow.config import DEFAULTS, load_config, reload_config
from taskloom.compat.auto_workflow.exceptions import TaskExecutionError
from taskloom.compat.auto_workflow.execution import get_process_pool
from taskloom.compat.auto_workflow.lifecycle import shutdown


def write_pyproject(text: str) -> None:
    Path("pyproject.toml").write_text(text)


def test_defaults_without_settings():
    cfg = reload_config()
    assert cfg == DEFAULTS
    assert cfg["max_dynamic_tasks"] == 2048 and cfg["artifact_serializer"] == "json"
    assert load_config() is cfg  # cached until reload


def test_pyproject_sections_and_environment_precedence(monkeypatch):
    write_pyproject(
        '[tool.auto_workflow]\nmax_dynamic_tasks = 10\nresult_cache = "filesystem"\n'
        'custom_key = "kept"\n[tool.taskloom]\nmax_dynamic_tasks = 20\n'
    )
    cfg = reload_config()
    assert cfg["max_dynamic_tasks"] == 20  # taskloom's section wins over auto_workflow's
    assert cfg["result_cache"] == "filesystem" and cfg["custom_key"] == "kept"
    monkeypatch.setenv("AUTO_WORKFLOW_MAX_DYNAMIC_TASKS", "30")
    assert reload_config()["max_dynamic_tasks"] == 30  # the environment wins over the file
    monkeypatch.setenv("TASKLOOM_MAX_DYNAMIC_TASKS", "40")
    assert reload_config()["max_dynamic_tasks"] == 40  # TASKLOOM_* wins over AUTO_WORKFLOW_*


def test_the_nearest_pyproject_upwards_is_read(tmp_path, monkeypatch):
    write_pyproject("[tool.taskloom]\nmax_dynamic_tasks = 7\n")
    inner = tmp_path / "pkg" / "sub"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    assert reload_config()["max_dynamic_tasks"] == 7


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TASKLOOM_MAX_DYNAMIC_TASKS", "many", r"max_dynamic_tasks='many' from \$TASKLOOM_MAX"),
        ("AUTO_WORKFLOW_ARTIFACT_SERIALIZER", "yaml", r"artifact_serializer.*'json', 'pickle'"),
        ("TASKLOOM_LOG_LEVEL", "LOUD", "logging level name"),
        ("TASKLOOM_RESULT_CACHE", "redis", "'memory', 'filesystem'"),
    ],
)
def test_bad_values_are_refused_naming_key_and_source(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        reload_config()


def test_bad_value_in_the_file_names_the_file():
    write_pyproject("[tool.taskloom]\nprocess_pool_max_workers = -2\n")
    with pytest.raises(ValueError, match=r"process_pool_max_workers=-2 from \[tool.taskloom\]"):
        reload_config()


def test_log_level_sets_the_taskloom_logger(monkeypatch):
    logger = logging.getLogger("taskloom")
    before = logger.level
    try:
        monkeypatch.setenv("AUTO_WORKFLOW_LOG_LEVEL", "debug")
        reload_config()
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(before)


@task
def numbers(n):
    return list(range(n))


@task
def square(x):
    return x * x


@task
def total(xs):
    return sum(xs)


@flow
def dynamic(n):
    return total(fan_out(square, numbers(n)))


def test_max_dynamic_tasks_bounds_a_dynamic_fan_out(monkeypatch):
    monkeypatch.setenv("AUTO_WORKFLOW_MAX_DYNAMIC_TASKS", "5")
    reload_config()
    assert dynamic.run(5) == 30
    with pytest.raises(TaskExecutionError, match="6 items, more than max_dynamic_tasks=5"):
        dynamic.run(6)


def test_process_pool_max_workers(monkeypatch):
    shutdown()
    monkeypatch.setenv("AUTO_WORKFLOW_PROCESS_POOL_MAX_WORKERS", "2")
    reload_config()
    try:
        assert get_process_pool()._max_workers == 2
    finally:
        shutdown()
        shutdown()  # idempotent


def test_result_cache_settings(monkeypatch, tmp_path):
    assert isinstance(get_result_cache(), InMemoryResultCache)
    monkeypatch.setenv("AUTO_WORKFLOW_RESULT_CACHE", "filesystem")
    monkeypatch.setenv("TASKLOOM_RESULT_CACHE_PATH", str(tmp_path / "cache"))
    reload_config()
    cache = get_result_cache()
    assert isinstance(cache, FileSystemResultCache) and cache.root == tmp_path / "cache"


def test_result_cache_max_entries_bounds_the_memory_cache(monkeypatch):
    monkeypatch.setenv("AUTO_WORKFLOW_RESULT_CACHE_MAX_ENTRIES", "1")
    reload_config()
    cache = InMemoryResultCache()
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a", ttl=1000) is None
    assert cache.get("b", ttl=1000) == 2


def test_artifact_store_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("TASKLOOM_PICKLE_KEY", "test-key")
    monkeypatch.setenv("AUTO_WORKFLOW_ARTIFACT_STORE", "memory")
    reload_config()
    assert isinstance(get_store(), InMemoryArtifactStore)
    monkeypatch.setenv("AUTO_WORKFLOW_ARTIFACT_STORE", "filesystem")
    monkeypatch.setenv("AUTO_WORKFLOW_ARTIFACT_STORE_PATH", str(tmp_path / "arts"))
    monkeypatch.setenv("AUTO_WORKFLOW_ARTIFACT_SERIALIZER", "pickle")
    reload_config()
    store = get_store()
    assert isinstance(store, FileSystemArtifactStore) and store.root == tmp_path / "arts"
    assert store.serializer.name == "pickle"
    ref = store.put((1, 2))
    assert (tmp_path / "arts" / ref.key).is_file() and store.get(ref) == (1, 2)
