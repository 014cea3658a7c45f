"""Every code example of Cloaca's ``@task`` and ``TaskHandle`` documentation, run on taskloom.

The examples are copied from the docs (only reformatted), with ``import cloaca`` replaced by
``import taskloom as cloaca``. Each one is placed inside a ``WorkflowBuilder`` and run
with ``DefaultRunner(db_url).execute(name, ctx)``. Helpers the docs leave undefined
(``risky_operation``, ``perform_operation``, ``some_external_check``, ``requests``,
``statsd``) get small local stand-ins. Deviations from the docs' text are marked
``# adapted:`` and only shorten waits (1 s sleeps, 1-5 s poll intervals, a fixed path)
or stop a task that is meant to fail from retrying for 3 s under Cloaca's default policy.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import taskloom as cloaca
from taskloom import Context


@pytest.fixture
def runner(db_url: str) -> Iterator[cloaca.DefaultRunner]:
    r = cloaca.DefaultRunner(db_url)
    yield r
    r.shutdown()


# --------------------------------------------------------------------------- Basic Usage


def test_basic_usage(runner: cloaca.DefaultRunner) -> None:
    with cloaca.WorkflowBuilder("basic_usage"):

        @cloaca.task(id="my_task")
        def my_task(context):
            """Example task that processes data."""
            # Task implementation
            context.set("result", "Task completed successfully")
            return context

    result = runner.execute("basic_usage", cloaca.Context({"request": 7}))

    assert result.status == "Completed"
    assert result.final_context.get("result") == "Task completed successfully"
    assert result.final_context.get("request") == 7
    assert result.task_results["my_task"].status == "Completed"
    assert result.task_results["my_task"].attempts == 1


def test_direct_call_runs_the_body() -> None:
    @cloaca.task(id="my_task")
    def my_task(context):
        """Example task that processes data."""
        # Task implementation
        context.set("result", "Task completed successfully")
        return context

    ctx = cloaca.Context()
    returned = my_task(ctx)

    assert returned is ctx
    assert ctx.get("result") == "Task completed successfully"
    assert my_task.__doc__ == "Example task that processes data."


# --------------------------------------------------------------------------- dependencies


def test_example_with_dependencies(runner: cloaca.DefaultRunner) -> None:
    with cloaca.WorkflowBuilder("fetch_and_process"):

        @cloaca.task(id="fetch_data")
        def fetch_data(context):
            """Fetch raw data from source."""
            data = {"raw_data": [1, 2, 3, 4, 5]}
            context.set("raw_data", data)
            return context

        @cloaca.task(id="process_data", dependencies=["fetch_data"])
        def process_data(context):
            """Process the fetched data."""
            raw_data = context.get("raw_data")
            processed = {"processed_data": [x * 2 for x in raw_data["raw_data"]]}
            context.set("processed_data", processed)
            return context

    result = runner.execute("fetch_and_process", cloaca.Context())

    assert result.status == "Completed"
    final = result.final_context
    assert final.get("raw_data") == {"raw_data": [1, 2, 3, 4, 5]}
    assert final.get("processed_data") == {"processed_data": [2, 4, 6, 8, 10]}
    assert [result.task_results[t].status for t in ("fetch_data", "process_data")] == [
        "Completed",
        "Completed",
    ]
    # Dependencies declared by id are kept on the task.
    assert process_data.dependencies == ("fetch_data",)
    assert fetch_data.dependencies == ()


# --------------------------------------------------------------------------- Async Tasks


def test_async_task(runner: cloaca.DefaultRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    # adapted: the example sleeps 1 s; asyncio.sleep is shortened (the call is recorded).
    real_sleep = asyncio.sleep
    requested: list[float] = []

    async def quick_sleep(delay: float, result: Any = None) -> Any:
        requested.append(delay)
        return await real_sleep(min(delay, 0.01), result)

    monkeypatch.setattr(asyncio, "sleep", quick_sleep)

    with cloaca.WorkflowBuilder("async_example"):

        @cloaca.task(id="async_task")
        async def async_task(context):
            """Example async task."""
            await asyncio.sleep(1)  # Simulate async operation
            context.set("async_result", "Async operation completed")
            return context

    result = runner.execute("async_example", cloaca.Context())

    assert result.status == "Completed"
    assert result.final_context.get("async_result") == "Async operation completed"
    assert requested == [1]

    # Called directly, an async task is a coroutine function like any other.
    direct = asyncio.run(async_task(cloaca.Context()))
    assert direct.get("async_result") == "Async operation completed"


# --------------------------------------------------------------------------- Error Handling


def test_error_handling_safe_task(runner: cloaca.DefaultRunner) -> None:
    behaviour = {"fail": False}

    def risky_operation() -> int:
        if behaviour["fail"]:
            raise RuntimeError("disk on fire")
        return 42

    with cloaca.WorkflowBuilder("safe_example"):

        @cloaca.task(id="safe_task")
        def safe_task(context):
            """Task with error handling."""
            try:
                # Potentially failing operation
                result = risky_operation()
                context.set("success", True)
                context.set("result", result)
            except Exception as e:
                context.set("success", False)
                context.set("error", str(e))

            return context

    ok = runner.execute("safe_example", cloaca.Context())
    assert ok.status == "Completed"
    assert ok.final_context.get("success") is True
    assert ok.final_context.get("result") == 42

    behaviour["fail"] = True
    handled = runner.execute("safe_example", cloaca.Context())
    assert handled.status == "Completed"
    assert handled.task_results["safe_task"].status == "Completed"
    assert handled.final_context.get("success") is False
    assert handled.final_context.get("error") == "disk on fire"
    assert "result" not in handled.final_context


# --------------------------------------------------------------------------- Callbacks


def test_callback_signatures(runner: cloaca.DefaultRunner) -> None:
    def on_success_callback(task_id: str, context: Context) -> None:
        """Called when the task completes successfully."""
        pass

    def on_failure_callback(task_id: str, error: str, context: Context) -> None:
        """Called when the task fails."""
        pass

    with cloaca.WorkflowBuilder("signatures"):

        @cloaca.task(id="fine", on_success=on_success_callback, on_failure=on_failure_callback)
        def fine(context):
            context.set("fine", True)
            return context

        @cloaca.task(
            id="broken",
            retry_attempts=1,
            on_success=on_success_callback,
            on_failure=on_failure_callback,
        )
        def broken(context):
            raise ValueError("broken on purpose")

    result = runner.execute("signatures", cloaca.Context())

    assert result.task_results["fine"].status == "Completed"
    assert result.task_results["broken"].status == "Failed"
    assert "broken on purpose" in (result.task_results["broken"].error or "")
    assert result.status == "Failed"
    assert fine.on_success is on_success_callback
    assert broken.on_failure is on_failure_callback


def test_example_with_callbacks_success(
    runner: cloaca.DefaultRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    def perform_operation() -> str:
        return "operation-output"

    def log_success(task_id, context):
        """Log successful task completion."""
        print(f"Task '{task_id}' completed successfully")
        # Send metrics, update monitoring, etc.

    def alert_failure(task_id, error, context):
        """Alert on task failure."""
        print(f"ALERT: Task '{task_id}' failed: {error}")
        # Send to Slack, PagerDuty, etc.

    with cloaca.WorkflowBuilder("monitored"):

        @cloaca.task(id="monitored_task", on_success=log_success, on_failure=alert_failure)
        def monitored_task(context):
            """Task with monitoring callbacks."""
            result = perform_operation()
            context.set("result", result)
            return context

    result = runner.execute("monitored", cloaca.Context())

    assert result.status == "Completed"
    assert result.final_context.get("result") == "operation-output"
    out = capsys.readouterr().out
    assert "Task 'monitored_task' completed successfully" in out
    assert "ALERT" not in out


def test_example_with_callbacks_failure(
    runner: cloaca.DefaultRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    def perform_operation() -> str:
        raise ConnectionError("upstream unreachable")

    def log_success(task_id, context):
        """Log successful task completion."""
        print(f"Task '{task_id}' completed successfully")
        # Send metrics, update monitoring, etc.

    def alert_failure(task_id, error, context):
        """Alert on task failure."""
        print(f"ALERT: Task '{task_id}' failed: {error}")
        # Send to Slack, PagerDuty, etc.

    with cloaca.WorkflowBuilder("monitored"):

        @cloaca.task(
            id="monitored_task",
            on_success=log_success,
            on_failure=alert_failure,
            retry_attempts=1,  # adapted: fail at once instead of 3 attempts over 3 s
        )
        def monitored_task(context):
            """Task with monitoring callbacks."""
            result = perform_operation()
            context.set("result", result)
            return context

    result = runner.execute("monitored", cloaca.Context())

    assert result.status == "Failed"
    assert result.task_results["monitored_task"].status == "Failed"
    out = capsys.readouterr().out
    assert "ALERT: Task 'monitored_task' failed: " in out
    assert "upstream unreachable" in out
    assert "completed successfully" not in out


def test_callback_error_isolation(runner: cloaca.DefaultRunner) -> None:
    calls: list[str] = []

    def buggy_callback(task_id, context):
        calls.append(task_id)
        raise Exception("Callback error!")  # Won't fail the task

    with cloaca.WorkflowBuilder("resilient"):

        @cloaca.task(id="resilient_task", on_success=buggy_callback)
        def resilient_task(context):
            """Task completes even if callback fails."""
            return context

        @cloaca.task(id="after", dependencies=["resilient_task"])
        def after(context):
            context.set("after_ran", True)
            return context

    result = runner.execute("resilient", cloaca.Context({"seed": 1}))

    assert calls == ["resilient_task"]
    assert result.status == "Completed"
    assert result.task_results["resilient_task"].status == "Completed"
    assert result.task_results["after"].status == "Completed"
    assert result.final_context.get("after_ran") is True
    assert result.final_context.get("seed") == 1


def test_common_callback_patterns(
    runner: cloaca.DefaultRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    posted: list[tuple[str | None, dict[str, Any]]] = []
    timings: list[tuple[str, Any]] = []

    class _Requests:  # stand-in for the requests library
        @staticmethod
        def post(url: str | None, json: dict[str, Any]) -> None:
            posted.append((url, json))

    class _StatsD:  # stand-in for a statsd client
        def timing(self, name: str, value: Any) -> None:
            timings.append((name, value))

    requests = _Requests()
    statsd = _StatsD()
    monkeypatch.setenv("SLACK_WEBHOOK", "https://hooks.example.test/T000")

    # Alerting pattern
    def slack_alert(task_id, error, context):
        webhook_url = os.environ.get("SLACK_WEBHOOK")
        requests.post(webhook_url, json={"text": f"Task {task_id} failed: {error}"})

    # Metrics pattern
    def record_metrics(task_id, context):
        duration = context.get("duration_ms", 0)
        statsd.timing(f"task.{task_id}.duration", duration)

    # Cleanup pattern
    def cleanup_temp_files(task_id, error, context):
        temp_dir = context.get("temp_dir")
        if temp_dir and os.path.exists(temp_dir):
            shutil.rmtree(temp_dir)

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "part-0001.tmp").write_text("half-written")

    with cloaca.WorkflowBuilder("callback_patterns"):

        @cloaca.task(id="measured", on_success=record_metrics)
        def measured(context):
            context.set("duration_ms", 125)
            return context

        @cloaca.task(id="unmeasured", on_success=record_metrics)
        def unmeasured(context):
            return context

        @cloaca.task(id="upload", retry_attempts=1, on_failure=slack_alert)
        def upload(context):
            raise ConnectionError("upload refused")

        @cloaca.task(id="transform", retry_attempts=1, on_failure=cleanup_temp_files)
        def transform(context):
            raise RuntimeError("transform crashed")

    result = runner.execute("callback_patterns", cloaca.Context({"temp_dir": str(scratch)}))

    assert result.status == "Failed"
    assert sorted(timings) == [("task.measured.duration", 125), ("task.unmeasured.duration", 0)]
    assert len(posted) == 1
    url, body = posted[0]
    assert url == "https://hooks.example.test/T000"
    assert body["text"].startswith("Task upload failed: ")
    assert "upload refused" in body["text"]
    assert not scratch.exists()


# --------------------------------------------------------------------------- Context Usage


def test_context_usage(runner: cloaca.DefaultRunner) -> None:
    with cloaca.WorkflowBuilder("context_usage"):

        @cloaca.task(id="context_example")
        def context_example(context):
            """Demonstrate context usage."""
            # Get data from previous tasks
            input_value = context.get("input_key", "default_value")

            # Process the data
            result = input_value.upper()

            # Set results for subsequent tasks
            context.set("output_key", result)
            context.set("processing_complete", True)

            return context

    given = runner.execute("context_usage", cloaca.Context({"input_key": "hello world"}))
    assert given.status == "Completed"
    assert given.final_context.get("output_key") == "HELLO WORLD"
    assert given.final_context.get("processing_complete") is True
    assert given.final_context.get("input_key") == "hello world"

    defaulted = runner.execute("context_usage", cloaca.Context())
    assert defaulted.final_context.get("output_key") == "DEFAULT_VALUE"

    direct = context_example(cloaca.Context({"input_key": "abc"}))
    assert direct.get("output_key") == "ABC"


# --------------------------------------------------------------------------- Best Practices


def test_idempotent_task(runner: cloaca.DefaultRunner) -> None:
    operations: list[int] = []

    def perform_operation() -> str:
        operations.append(1)
        return f"operation #{len(operations)}"

    with cloaca.WorkflowBuilder("idempotent"):

        @cloaca.task(id="idempotent_task")
        def idempotent_task(context):
            """Task that can be safely retried."""
            # Check if already processed
            if context.get("already_processed"):
                return context

            # Perform operation
            result = perform_operation()

            # Mark as processed
            context.set("result", result)
            context.set("already_processed", True)

            return context

    first = runner.execute("idempotent", cloaca.Context())
    assert first.status == "Completed"
    assert first.final_context.get("result") == "operation #1"
    assert first.final_context.get("already_processed") is True
    assert len(operations) == 1

    # Feeding the output back in does not repeat the operation.
    again = runner.execute("idempotent", first.final_context)
    assert again.status == "Completed"
    assert again.final_context.get("result") == "operation #1"
    assert len(operations) == 1


@pytest.mark.parametrize(
    ("data", "valid", "error"),
    [
        (None, False, "Required 'data' field is missing"),
        ({}, False, "Required 'data' field is missing"),
        ([1, 2], False, "Expected dict, got list"),
        ("text", False, "Expected dict, got str"),
        ({"id": 1}, True, None),
    ],
)
def test_validation_task(
    runner: cloaca.DefaultRunner, data: Any, valid: bool, error: str | None
) -> None:
    with cloaca.WorkflowBuilder("validation"):

        @cloaca.task(id="validation_task")
        def validation_task(context):
            """Task with clear validation."""
            data = context.get("data")

            if not data:
                context.set("error", "Required 'data' field is missing")
                context.set("valid", False)
                return context

            if not isinstance(data, dict):
                context.set("error", f"Expected dict, got {type(data).__name__}")
                context.set("valid", False)
                return context

            context.set("valid", True)
            return context

    ctx = cloaca.Context() if data is None else cloaca.Context({"data": data})
    result = runner.execute("validation", ctx)

    assert result.status == "Completed"
    assert result.final_context.get("valid") is valid
    assert result.final_context.get("error") == error


def test_all_documented_decorator_parameters_together(runner: cloaca.DefaultRunner) -> None:
    attempts: list[int] = []
    successes: list[tuple[str, Any]] = []
    failures: list[str] = []

    with cloaca.WorkflowBuilder("all_parameters"):

        @cloaca.task(id="first")
        def first(context):
            context.set("first", True)
            return context

        @cloaca.task(
            id="everything",
            dependencies=["first"],
            retry_attempts=3,
            retry_backoff="linear",
            retry_delay_ms=10,
            retry_max_delay_ms=50,
            retry_condition="all",
            retry_jitter=False,
            on_success=lambda task_id, ctx: successes.append((task_id, ctx.get("attempt"))),
            on_failure=lambda task_id, error, ctx: failures.append(task_id),
        )
        def everything(context):
            attempts.append(1)
            if len(attempts) < 3:
                raise RuntimeError(f"attempt {len(attempts)} fails")
            context.set("attempt", len(attempts))
            return context

    result = runner.execute("all_parameters", cloaca.Context())

    assert result.status == "Completed"
    assert result.task_results["everything"].attempts == 3
    assert result.final_context.get("attempt") == 3
    assert result.final_context.get("first") is True
    assert successes == [("everything", 3)]
    assert failures == []


# --------------------------------------------------------------------------- TaskHandle


def test_wait_for_ready(runner: cloaca.DefaultRunner) -> None:
    checks: list[float] = []

    def some_external_check() -> bool:
        checks.append(time.monotonic())
        return len(checks) >= 3

    with cloaca.WorkflowBuilder("wait_for_ready_example"):

        @cloaca.task(id="wait_for_ready")
        def wait_for_ready(context, handle):
            """Task that defers until an external condition is met."""

            def check_ready():
                # Return True when the task should resume
                return some_external_check()

            # adapted: poll_interval_ms=1000 in the docs
            handle.defer_until(check_ready, poll_interval_ms=10)
            context.set("ready", True)
            return context

    result = runner.execute("wait_for_ready_example", cloaca.Context())

    assert result.status == "Completed"
    assert result.final_context.get("ready") is True
    assert len(checks) == 3
    # Polls are spaced by the interval (lower bound only).
    assert checks[-1] - checks[0] >= 0.015
    assert wait_for_ready.handle_parameter == "handle"


def test_wait_for_file(runner: cloaca.DefaultRunner, tmp_path: Path) -> None:
    target_file = tmp_path / "input.csv"
    creator = threading.Timer(0.05, target_file.write_text, args=("a,b\n1,2\n",))

    with cloaca.WorkflowBuilder("wait_for_file_example"):

        @cloaca.task(id="wait_for_file")
        def wait_for_file(context, handle):
            import os

            target = str(target_file)  # adapted: "/data/input.csv" in the docs
            handle.defer_until(
                lambda: os.path.exists(target),
                poll_interval_ms=10,  # adapted: 5000 in the docs
            )
            context.set("file_path", target)
            return context

    creator.start()
    try:
        result = runner.execute("wait_for_file_example", cloaca.Context())
    finally:
        creator.cancel()

    assert result.status == "Completed"
    assert result.final_context.get("file_path") == str(target_file)
    assert target_file.exists()


def test_mixed_pipeline(runner: cloaca.DefaultRunner) -> None:
    with cloaca.WorkflowBuilder("mixed_pipeline") as builder:

        @cloaca.task(id="normal_task")
        def normal_task(context):
            context.set("step_1", True)
            return context

        @cloaca.task(id="deferred_task", dependencies=["normal_task"])
        def deferred_task(context, handle):
            handle.defer_until(lambda: True, poll_interval_ms=10)
            context.set("step_2", True)
            return context

    assert builder.name == "mixed_pipeline"
    result = runner.execute("mixed_pipeline", cloaca.Context())

    assert result.status == "Completed"
    assert result.final_context.get("step_1") is True
    assert result.final_context.get("step_2") is True
    assert result.task_results["normal_task"].status == "Completed"
    assert result.task_results["deferred_task"].status == "Completed"
    assert normal_task.handle_parameter is None
    assert deferred_task.handle_parameter == "handle"


def test_calling_a_handle_task_directly_with_none() -> None:
    @cloaca.task(id="my_handle_task")
    def my_handle_task(context, handle):
        context.set("prepared", True)
        if handle is not None:
            handle.defer_until(lambda: True, poll_interval_ms=10)
        context.set("done", True)
        return context

    ctx = cloaca.Context()
    result = my_handle_task(ctx, None)

    assert result.get("prepared") is True
    assert result.get("done") is True


def test_direct_call_with_none_fails_at_defer_until() -> None:
    @cloaca.task(id="deferred_task")
    def deferred_task(context, handle):
        context.set("before_defer", True)
        handle.defer_until(lambda: True, poll_interval_ms=10)
        context.set("step_2", True)
        return context

    ctx = cloaca.Context()
    with pytest.raises(AttributeError):
        deferred_task(ctx, None)
    assert ctx.get("before_defer") is True
    assert "step_2" not in ctx


def test_task_handle_parameter_named_task_handle(runner: cloaca.DefaultRunner) -> None:
    seen: list[Any] = []

    with cloaca.WorkflowBuilder("task_handle_name"):

        @cloaca.task(id="uses_task_handle")
        def uses_task_handle(context, task_handle):
            seen.append(task_handle)
            held_before = task_handle.is_slot_held()
            task_handle.defer_until(lambda: True, poll_interval_ms=10)
            context.set("held", [held_before, task_handle.is_slot_held()])
            return context

    result = runner.execute("task_handle_name", cloaca.Context())

    assert result.status == "Completed"
    assert result.final_context.get("held") == [True, True]
    assert len(seen) == 1
    assert isinstance(seen[0], cloaca.TaskHandle)
