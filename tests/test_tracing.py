"""OpenTelemetry traces: the span tree of each style, across a worker process and a crash.

In this process spans go to an in-memory exporter; the processes these tests
start (a ``taskloom worker``, a runner killed mid-task) write theirs to a
JSON-lines file through the same SDK, so the tree is checked across them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import taskloom
from taskloom import Context, DefaultRunner, WorkflowBuilder, task
from taskloom.core import trace_hooks
from taskloom.core.shared_engines import shutdown_engines
from taskloom.steps import Client, Directive, Workflow
from taskloom.steps import Context as StepContext
from taskloom.telemetry.tracing import OpenTelemetryTracing

EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    EXPORTER.clear()
    trace_hooks.install(OpenTelemetryTracing())
    yield EXPORTER
    trace_hooks.install(None)  # the rest of the suite runs untraced
    shutdown_engines(wait=False)


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


def test_a_dag_run_is_a_trace_and_a_body_span_nests_under_its_attempt(
    spans: InMemorySpanExporter, db_url: str
) -> None:
    tries: list[int] = []
    inner = trace.get_tracer("user-code")
    with WorkflowBuilder("traced"):

        @task(id="fetch", retry_attempts=2, retry_delay_ms=1)
        def fetch(ctx: Context) -> Context:
            tries.append(1)
            with inner.start_as_current_span("http GET"):
                if len(tries) == 1:
                    raise ConnectionError("reset")
            return ctx

        @task(id="store", dependencies=["fetch"])
        async def store(ctx: Context) -> Context:
            with inner.start_as_current_span("db write"):
                await asyncio.sleep(0)
            return ctx

    with inner.start_as_current_span("request") as caller, DefaultRunner(db_url) as runner:
        result = runner.execute("traced", Context())
    assert result.status == "Completed"
    found = by_name(spans)
    (run,) = found["taskloom.run traced"]
    assert run.parent.span_id == caller.get_span_context().span_id  # joins the caller's trace
    assert run.attributes["taskloom.run_id"] == result.run_id
    assert run.attributes["taskloom.style"] == "dag"
    assert [e.name for e in run.events] == ["taskloom.retry"]
    attempts = sorted(found["taskloom.task fetch"], key=lambda s: s.attributes["taskloom.attempt"])
    assert [s.attributes["taskloom.outcome"] for s in attempts] == ["failed", "succeeded"]
    assert attempts[0].status.status_code == trace.StatusCode.ERROR
    assert attempts[0].events[0].name == "exception"
    assert all(s.parent.span_id == run.context.span_id for s in attempts)
    http = found["http GET"]
    assert {s.parent.span_id for s in http} == {s.context.span_id for s in attempts}
    (write,) = found["db write"]
    (store_span,) = found["taskloom.task store"]
    assert write.parent.span_id == store_span.context.span_id
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {
        caller.get_span_context().trace_id
    }


def test_flow_calls_and_step_operations_are_spans(spans: InMemorySpanExporter, db_url: str) -> None:
    @taskloom.task
    def square(x: int) -> int:
        return x * x

    @taskloom.flow
    def squares(n: int) -> list[int]:
        return [square(i) for i in range(n)]

    assert squares.run(3, db=db_url) == [0, 1, 4]
    flow_spans = by_name(spans)
    (run,) = flow_spans["taskloom.run squares"]
    assert run.attributes["taskloom.style"] == "flow"
    assert len(flow_spans["taskloom.task square"]) == 3
    spans.clear()

    order = Workflow(workflow_type="TracedOrder")

    @order.start()
    async def start(ctx: StepContext, n: int) -> Directive:
        return ctx.next.step(finish, value=await square(n))  # type: ignore[misc]

    @order.step()
    async def finish(ctx: StepContext, value: int) -> Directive:
        return ctx.next.complete(value)

    assert Client(db_url).run_workflow(order, "o-1", {"n": 5}, timeout=30) == 25
    found = by_name(spans)
    (driver,) = [s for name, ss in found.items() if name.startswith("taskloom.task") for s in ss]
    start_span, finish_span = found["taskloom.step start"][0], found["taskloom.step finish"][0]
    assert start_span.parent.span_id == driver.context.span_id
    assert finish_span.parent.span_id == driver.context.span_id
    (operation,) = found["taskloom.operation square"]
    assert operation.parent.span_id == start_span.context.span_id


def test_no_tracer_means_no_span_and_no_context(db_url: str) -> None:
    trace_hooks.install(None)
    with WorkflowBuilder("untraced"):

        @task(id="one")
        def one(ctx: Context) -> Context:
            ctx.set("span", trace.get_current_span().get_span_context().is_valid)
            return ctx

    with DefaultRunner(db_url) as runner:
        assert runner.execute("untraced", Context()).final_context.get("span") is False


SPAN_FILE_SETUP = """
import json, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class FileExporter(SpanExporter):
    def export(self, spans):
        with open(os.environ["SPAN_FILE"], "a") as out:
            for s in spans:
                out.write(json.dumps({
                    "name": s.name,
                    "trace_id": s.context.trace_id,
                    "span_id": s.context.span_id,
                    "parent_id": s.parent.span_id if s.parent else None,
                    "attributes": dict(s.attributes),
                }) + "\\n")
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(FileExporter()))
trace.set_tracer_provider(provider)
"""

WORKER_APP = (
    SPAN_FILE_SETUP
    + """
import taskloom

@taskloom.task
def double(x: int) -> int:
    return 2 * x

@taskloom.flow
def doubles(n: int) -> list[int]:
    return [double(i) for i in range(n)]
"""
)


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_distributed_run_is_one_trace_across_the_worker_process(
    spans: InMemorySpanExporter, pg_url: str, tmp_path: Path
) -> None:
    (tmp_path / "traced_worker_app.py").write_text(WORKER_APP)
    span_file = tmp_path / "worker-spans.jsonl"
    env = {**os.environ, "SPAN_FILE": str(span_file), "PYTHONPATH": str(tmp_path)}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskloom",
            "worker",
            "--db",
            pg_url,
            "--import",
            "traced_worker_app",
        ],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        for line in worker.stderr:
            if "started:" in line:
                break
        sys.path.insert(0, str(tmp_path))
        try:
            import traced_worker_app  # type: ignore[import-not-found]
        finally:
            sys.path.remove(str(tmp_path))
        # Importing it here tries to set its file provider: OpenTelemetry keeps ours.
        handle = traced_worker_app.doubles.submit(3, db=pg_url)
        assert handle.result(timeout=60) == [0, 2, 4]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    (submit,) = by_name(spans)["taskloom.submit doubles"]
    remote = [s for s in read_spans(span_file) if s["name"] == "taskloom.task double"]
    assert len(remote) == 3
    assert {s["trace_id"] for s in remote} == {submit.context.trace_id}
    assert {s["parent_id"] for s in remote} == {submit.context.span_id}


RESUMED_APP = (
    SPAN_FILE_SETUP
    + """
import pathlib, sys, time
import taskloom

with taskloom.WorkflowBuilder("crashy") as b:
    @taskloom.task(id="first")
    def first(context):
        return context

    @taskloom.task(id="second", dependencies=["first"])
    def second(context):
        if os.environ.get("DIE") == "1":
            pathlib.Path(os.environ["IN_SECOND"]).touch()
            time.sleep(60)
        return context

runner = taskloom.DefaultRunner(sys.argv[1])
if os.environ.get("DIE") == "1":
    runner.execute("crashy", taskloom.Context())
else:
    run_id = sys.argv[2]
    print(runner.result(run_id, timeout=60).status)
    runner.shutdown()
"""
)


def test_a_run_resumed_after_a_crash_continues_its_trace(tmp_path: Path) -> None:
    app = tmp_path / "resumed_app.py"
    app.write_text(RESUMED_APP)
    url = f"sqlite:///{tmp_path / 'traced.db'}"
    first_spans, second_spans = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    marker = tmp_path / "in-second"
    crashing = subprocess.Popen(
        [sys.executable, str(app), url],
        env={**os.environ, "SPAN_FILE": str(first_spans), "DIE": "1", "IN_SECOND": str(marker)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():  # the event we mean: the second task is running
            assert crashing.poll() is None, "the first process ended early"
            assert time.monotonic() < deadline, "the second task never started"
            time.sleep(0.01)
    finally:
        crashing.kill()
        crashing.wait(30)
    import sqlite3

    with sqlite3.connect(tmp_path / "traced.db") as conn:
        (run_id,) = conn.execute("SELECT run_id FROM runs").fetchone()
        (data,) = conn.execute(
            "SELECT data_json FROM events WHERE kind = 'trace_context'"
        ).fetchone()
    recorded = json.loads(data)["traceparent"]
    done = subprocess.run(
        [sys.executable, str(app), url, run_id],
        env={**os.environ, "SPAN_FILE": str(second_spans)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.stdout.strip() == "Completed", done.stderr
    before = read_spans(first_spans)
    after = read_spans(second_spans)
    trace_id = int(recorded.split("-")[1], 16)
    assert [s["name"] for s in before] == ["taskloom.task first"]  # the run span never ended
    assert before[0]["trace_id"] == trace_id
    resumed = [s for s in after if s["name"] == "taskloom.run crashy"]
    assert resumed and resumed[0]["attributes"]["taskloom.resumed"] is True
    assert {s["trace_id"] for s in after} == {trace_id}
    assert [s["name"] for s in after if s["name"].startswith("taskloom.task")] == [
        "taskloom.task second"
    ]
