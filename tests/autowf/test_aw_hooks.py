"""Tracing, metrics, middleware and secrets hooks, ported from auto_workflow's tests."""

from contextlib import asynccontextmanager

from taskloom import flow, get_context, subscribe, task
from taskloom.compat.auto_workflow.metrics_provider import (
    InMemoryMetrics,
    get_metrics_provider,
    set_metrics_provider,
)
from taskloom.compat.auto_workflow.middleware import clear, register
from taskloom.compat.auto_workflow.secrets import (
    DummyVaultSecrets,
    EnvSecrets,
    StaticMappingSecrets,
    secret,
    set_secrets_provider,
)
from taskloom.compat.auto_workflow.tracing import get_tracer, set_tracer


class RecordingTracer:
    def __init__(self):
        self.spans = []

    @asynccontextmanager
    async def span(self, name: str, **attrs):
        entry = {"name": name, "attrs": attrs, "error": None}
        self.spans.append(entry)
        try:
            yield entry
        except Exception as e:
            entry["error"] = e
            raise


@task
def a():
    return 1


@task
def b(x):
    return x + 1


@flow
def trace_flow():
    x = a()
    y = b(x)
    return y


def test_tracing_spans_collected():
    rec = RecordingTracer()
    set_tracer(rec)
    assert get_tracer() is rec
    assert trace_flow.run() == 2
    names = [s["name"] for s in rec.spans]
    assert names[0] == "flow:trace_flow"
    assert any(n.startswith("task:a") for n in names)
    assert any(n.startswith("task:b") for n in names)
    task_b = next(s for s in rec.spans if s["name"] == "task:b")
    assert task_b["attrs"]["node"] == "b#0" and task_b["attrs"]["attempt"] == 1


@task
def fails():
    raise ValueError("x")


@flow
def failing_flow():
    return fails()


def test_a_failed_task_span_gets_the_error():
    rec = RecordingTracer()
    set_tracer(rec)
    failing_flow.run(failure_policy="continue")
    span = next(s for s in rec.spans if s["name"] == "task:fails")
    assert span["error"] is not None and span["error"].task_name == "fails"


_events = []


async def timing_mw(nxt, task_def, args, kwargs):
    _events.append(("before", task_def.name, get_context().node))
    res = await nxt()
    _events.append(("after", task_def.name))
    return res


@task
def compute():
    return 41


@task
def plus_one(x: int):
    return x + 1


@flow
def pipe():
    x = compute()
    y = plus_one(x)
    return y


def test_middleware_and_metrics():
    clear()
    _events.clear()
    register(timing_mw)
    mp = InMemoryMetrics()
    set_metrics_provider(mp)
    assert get_metrics_provider() is mp
    out = pipe.run()
    assert out == 42
    assert _events == [
        ("before", "compute", "compute#0"),
        ("after", "compute"),
        ("before", "plus_one", "plus_one#0"),
        ("after", "plus_one"),
    ]
    assert mp.counters.get("tasks_succeeded", 0) == 2
    assert len(mp.histograms["task_duration_ms"]) == 2


def test_middleware_order_outermost_first():
    order = []

    async def outer(nxt, task_def, args, kwargs):
        order.append("outer")
        return await nxt()

    async def inner(nxt, task_def, args, kwargs):
        order.append("inner")
        return (await nxt()) * 10

    register(outer)
    register(inner)
    assert pipe.run() == 4110  # compute: 410, plus_one(410) * 10
    assert order == ["outer", "inner", "outer", "inner"]


def test_a_middleware_failing_before_next_is_skipped_with_an_event():
    errors = []
    subscribe("middleware_error", errors.append)

    async def broken(nxt, task_def, args, kwargs):
        raise RuntimeError("mw down")

    register(broken)
    assert pipe.run() == 42
    assert [(e["task"], e["middleware_index"]) for e in errors] == [
        ("compute", 0),
        ("plus_one", 0),
    ]


calls = []


@task(cache_ttl=60)
def cached(x):
    calls.append(x)
    return x


@flow
def cache_flow():
    return [cached(1), cached(2)]


def test_cache_metrics():
    mp = InMemoryMetrics()
    set_metrics_provider(mp)
    cache_flow.run()
    cache_flow.run()
    assert mp.counters["cache_sets"] >= 2 and mp.counters["cache_hits"] >= 2


def test_metrics_count_failures():
    mp = InMemoryMetrics()
    set_metrics_provider(mp)
    failing_flow.run(failure_policy="continue")
    assert mp.counters["tasks_failed"] == 1


def test_env_secrets(monkeypatch):
    monkeypatch.setenv("AW_TOKEN", "abc")
    set_secrets_provider(EnvSecrets())
    assert secret("AW_TOKEN") == "abc"


def test_static_mapping_secrets():
    set_secrets_provider(StaticMappingSecrets({"X": "1"}))
    assert secret("X") == "1"
    assert secret("Y") is None


def test_prefixed_env_secrets(monkeypatch):
    monkeypatch.setenv("APP_DB_PASSWORD", "s3cret")
    set_secrets_provider(DummyVaultSecrets(prefix="APP_"))
    assert secret("DB_PASSWORD") == "s3cret"
