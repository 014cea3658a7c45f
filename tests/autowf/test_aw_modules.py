"""Each public auto_workflow module has a twin with its names; top-level names are taskloom's."""

import importlib

import pytest

import taskloom

TWINS = {
    "": [
        "task",
        "TaskDefinition",
        "flow",
        "Flow",
        "get_context",
        "fan_out",
        "FailurePolicy",
        "subscribe",
    ],
    "artifacts": ["ArtifactRef", "InMemoryArtifactStore", "FileSystemArtifactStore", "get_store"],
    "cache": ["ResultCache", "InMemoryResultCache", "FileSystemResultCache", "get_result_cache"],
    "cli": ["main", "load_flow"],
    "config": ["DEFAULTS", "load_config", "reload_config"],
    "context": ["RunContext", "get_context"],
    "dag": ["DAG"],
    "events": ["subscribe", "emit"],
    "exceptions": [
        "AutoWorkflowError",
        "CycleDetectedError",
        "TaskExecutionError",
        "TimeoutError",
        "RetryExhaustedError",
        "InvalidGraphError",
        "AggregateTaskError",
    ],
    "execution": ["get_process_pool"],
    "fanout": ["fan_out"],
    "flow": ["Flow", "flow"],
    "lifecycle": ["shutdown"],
    "logging_middleware": ["structured_logging_middleware", "register_structured_logging"],
    "metrics": ["inc", "observe", "snapshot"],
    "metrics_provider": [
        "MetricsProvider",
        "InMemoryMetrics",
        "set_metrics_provider",
        "get_metrics_provider",
    ],
    "middleware": ["register", "clear", "get_task_middleware_chain"],
    "scheduler": ["FailurePolicy", "InMemoryResultCache"],
    "secrets": [
        "SecretsProvider",
        "EnvSecrets",
        "StaticMappingSecrets",
        "DummyVaultSecrets",
        "set_secrets_provider",
        "secret",
    ],
    "task": ["TaskDefinition", "task"],
    "tracing": ["DummyTracer", "get_tracer", "set_tracer"],
    "utils": ["default_cache_key", "is_coroutine_fn", "maybe_await"],
}


@pytest.mark.parametrize("name", sorted(TWINS))
def test_each_twin_has_auto_workflow_names(name):
    module = importlib.import_module("taskloom.compat.auto_workflow" + (f".{name}" if name else ""))
    missing = [n for n in TWINS[name] if not hasattr(module, n)]
    assert missing == []
    assert set(TWINS[name]) <= set(module.__all__)


def test_top_level_names_are_taskloom_names():
    aw = importlib.import_module("taskloom.compat.auto_workflow")
    for name in TWINS[""]:
        assert getattr(taskloom, name) is getattr(aw, name), name


def test_task_definition_has_auto_workflow_attributes():
    @taskloom.task(retries=3, retry_backoff=0.5, priority=2, persist=False)
    def t(x):
        return x

    assert (t.name, t.retries, t.priority, t.persist, t.run_in) == ("t", 3, 2, False, "async")


def test_flow_has_auto_workflow_attributes():
    @taskloom.flow
    def body():
        return 1

    assert (body.name, body.build_fn()) == ("body", 1)


def test_default_cache_key_is_stable_and_binds_arguments():
    from taskloom.compat.auto_workflow.utils import default_cache_key

    def f(a, b=2):
        return a + b

    assert default_cache_key(f, (1,), {}) == default_cache_key(f, (), {"a": 1, "b": 2})
    assert default_cache_key(f, (1,), {}) != default_cache_key(f, (2,), {})


def test_metrics_facade_and_chain():
    import asyncio

    from taskloom.compat.auto_workflow import metrics, metrics_provider, middleware

    provider = metrics_provider.InMemoryMetrics()
    metrics_provider.set_metrics_provider(provider)
    metrics.inc("x")
    metrics.observe("y", 2.0)
    assert metrics.snapshot() == {"counters": {"x": 1.0}, "histograms": {"y": [2.0]}}

    async def double(nxt, task_def, args, kwargs):
        return 2 * await nxt()

    middleware.register(double)

    async def core():
        return 21

    assert asyncio.run(middleware.get_task_middleware_chain()(core, None, (), {})) == 42
