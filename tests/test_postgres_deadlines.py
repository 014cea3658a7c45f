"""Time limits of distributed runs: workflow deadlines, per-run task timeouts, cancel.

A run submitted with a workflow timeout is stopped by the workers at its
deadline exactly as a local runner stops it (same status, same error text,
unfinished tasks Cancelled); its default task timeout reaches the workers.
Worker processes where the processes matter (a sync body that cannot be
stopped), in-process :class:`~taskloom.Worker` elsewhere.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskloom import (
    Client,
    Context,
    DefaultRunner,
    DefaultRunnerConfig,
    TaskloomError,
    Worker,
    WorkflowBuilder,
    flow,
    task,
)
from taskloom.journal.postgres import PostgresJournal
from taskloom.journal.postgres_queue import TaskQueue
from taskloom.journal.queue_records import Completion
from test_postgres_workers import WorkerProcess, load_app, side_effects, task_rows, wait_for

pytest.importorskip("psycopg")


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def client(pg_schema_url: str) -> Iterator[Client]:
    with Client(pg_schema_url) as opened:
        yield opened


def _statuses(result: Any) -> dict[str, str]:
    return {key: outcome.status for key, outcome in result.task_results.items()}


def _event_kinds(client: Client, run_id: str) -> list[str]:
    return [e.kind for e in client.journal.get_events(run_id)]


# --------------------------------------------------------------------------- worker processes


@pytest.mark.timeout(60)
def test_a_run_past_its_deadline_fails_promptly_as_it_does_locally(
    pg_url: str, db_url: str, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """Two worker processes; ``nap`` (a sync body) sleeps past the workflow timeout."""
    side = tmp_path / "side.txt"
    load_app("deadline_app")
    workers.extend(WorkerProcess(pg_url, "deadline_app", tmp_path, side) for _ in range(2))
    for worker in workers:
        worker.wait_started()
    config = DefaultRunnerConfig(workflow_timeout_seconds=0.5)
    runner = DefaultRunner(pg_url, config, execute=False)
    try:
        began = time.monotonic()
        handle = runner.start("overdue", {"tag": "t1", "sleep": 1.8})
        owner, fence = wait_for(
            lambda: task_rows(
                pg_url,
                "SELECT claimed_by, fence FROM task_runs "
                "WHERE run_id = %s AND task_key = 'nap' AND status = 'Running'",
                (handle.run_id,),
            ),
            10,
            "nap to start",
        )[0]
        remote = handle.result(timeout=10)
        elapsed = time.monotonic() - began
        kinds = [e.kind for e in runner.journal.get_events(handle.run_id)]
    finally:
        runner.shutdown()

    assert remote.status == "Failed"
    assert remote.error_message == "workflow 'overdue' timed out after 0.5 s"
    assert elapsed < 0.5 + 1.5, f"the client waited {elapsed:.2f} s"
    assert _statuses(remote) == {"nap": "Cancelled", "after": "Cancelled"}
    assert kinds.count("run_finished") == 1 and kinds[-1] == "run_finished"
    assert "task_succeeded" not in kinds

    # nap's body runs to its end (a thread cannot be stopped) but its completion
    # is not recorded: the stop moved the fence on, so its claim can record nothing.
    wait_for(lambda: side_effects(side)[("t1", "nap")] == 1, 10, "nap's body to finish")
    time.sleep(0.3)
    queue = TaskQueue(PostgresJournal(pg_url))
    try:
        with queue.recording() as conn:
            late = Completion(handle.run_id, "nap", fence, "Completed", output_json="{}")
            accepted, _ = queue.complete(conn, owner, [late])
    finally:
        queue.journal.close()
    assert accepted == set()
    ((status, new_fence),) = task_rows(
        pg_url,
        "SELECT status, fence FROM task_runs WHERE run_id = %s AND task_key = 'nap'",
        (handle.run_id,),
    )
    assert (status, new_fence) == ("Cancelled", fence + 1)
    assert side_effects(side)[("t1", "after")] == 0  # the pending task never ran
    assert any("stopped at its deadline" in w.text() for w in workers)
    assert "Traceback" not in "".join(w.text() for w in workers)

    # The same workflow and config, run locally: the same outcome, word for word.
    with DefaultRunner(db_url, config) as local_runner:
        local = local_runner.execute("overdue", {"tag": "local", "sleep": 0.8})
    assert (local.status, local.error_message) == (remote.status, remote.error_message)
    assert _statuses(local) == _statuses(remote)
    # No sink completed: the result is the run's input, in both modes.
    assert remote.final_context.to_dict() == {"tag": "t1", "sleep": 1.8}
    assert local.final_context.to_dict() == {"tag": "local", "sleep": 0.8}


# --------------------------------------------------------------------------- in-process workers


@pytest.mark.timeout(60)
def test_many_runs_racing_their_deadlines_on_three_workers_end_exactly_once(
    client: Client, pg_schema_url: str
) -> None:
    """Runs whose only task ends around the deadline: each run ends once, and it either
    completed (its task completed) or timed out (its task cancelled) -- never both."""
    with WorkflowBuilder("photo_finish"):

        @task(id="work")
        def work(ctx: Context) -> Context:
            time.sleep(float(ctx.get("sleep")))
            ctx.set("done", True)
            return ctx

    fleet = [
        Worker(pg_schema_url, workflows=["photo_finish"], concurrency=12, poll_interval=0.1)
        for _ in range(3)
    ]
    for worker in fleet:
        worker.start()
    try:
        sleeps = [0.02 * i for i in range(30)]  # 0 .. 0.58 s against a 0.3 s deadline
        run_ids = [
            client.submit("photo_finish", {"sleep": s}, workflow_timeout=0.3) for s in sleeps
        ]
        results = [client.result(run_id, timeout=20) for run_id in run_ids]
    finally:
        for worker in fleet:
            worker.stop(timeout=10)
    outcomes: Counter[str] = Counter()
    for sleep, result in zip(sleeps, results, strict=True):
        outcomes[result.status] += 1
        kinds = _event_kinds(client, result.run_id)
        assert kinds.count("run_finished") == 1, (sleep, kinds)
        if result.status == "Completed":
            assert _statuses(result) == {"work": "Completed"}
            assert result.final_context.get("done") is True
            assert result.error_message is None
        else:
            assert result.status == "Failed", (sleep, result)
            assert _statuses(result) == {"work": "Cancelled"}
            assert result.error_message == "workflow 'photo_finish' timed out after 0.3 s"
        if sleep <= 0.04:  # well before the deadline: unaffected
            assert result.status == "Completed", (sleep, result)
        if sleep >= 0.5:  # well after it
            assert result.status == "Failed", (sleep, result)
    assert outcomes["Completed"] and outcomes["Failed"]


def test_a_run_waiting_for_a_retry_is_stopped_by_the_poll_and_never_retried(
    client: Client, pg_schema_url: str
) -> None:
    """No worker runs anything of the run when its deadline passes (its task waits for a
    retry): the fallback poll stops it, and the retry never runs."""
    calls: list[float] = []
    with WorkflowBuilder("backing_off"):

        @task(id="flaky", retry_attempts=3, retry_delay_ms=3000, retry_jitter=False)
        def flaky(ctx: Context) -> Context:
            calls.append(time.monotonic())
            raise ConnectionError("not yet")

    worker = Worker(pg_schema_url, workflows=["backing_off"], poll_interval=0.1).start()
    try:
        began = time.monotonic()
        result = client.execute("backing_off", {}, timeout=10, workflow_timeout=0.4)
        elapsed = time.monotonic() - began
        time.sleep(0.2)
    finally:
        worker.stop(timeout=10)
    assert result.status == "Failed"
    assert result.error_message == "workflow 'backing_off' timed out after 0.4 s"
    assert _statuses(result) == {"flaky": "Cancelled"}
    assert len(calls) == 1
    assert elapsed < 0.4 + 1.0


def test_a_task_claimed_after_its_runs_deadline_never_starts(
    client: Client, pg_schema_url: str
) -> None:
    """The claim says the deadline has passed (the poll's check is switched off here,
    so the claim sees the run first): the worker stops the run instead of starting it."""
    ran: list[str] = []
    with WorkflowBuilder("too_late"):

        @task(id="first")
        def first(ctx: Context) -> Context:
            ran.append("first")
            return ctx

    run_id = client.submit("too_late", {}, workflow_timeout=0.2)
    time.sleep(0.3)
    worker = Worker(pg_schema_url, workflows=["too_late"], poll_interval=0.1)
    worker.deadlines.check = lambda: None  # type: ignore[method-assign]
    worker.start()
    try:
        result = client.result(run_id, timeout=10)
    finally:
        worker.stop(timeout=10)
    assert result.status == "Failed"
    assert result.error_message == "workflow 'too_late' timed out after 0.2 s"
    assert _statuses(result) == {"first": "Cancelled"}
    assert ran == []


@pytest.mark.parametrize("hold", [0.4, 2.0])
def test_a_stop_waits_for_the_runs_rows_then_gives_up_waiting(
    client: Client, pg_schema_url: str, hold: float
) -> None:
    """Another transaction holds the running task's row across the deadline. Held
    briefly, the stop waits for it and is exact; held for longer than a second the run is
    stopped anyway, and the held row is cancelled once it is free."""
    import psycopg

    from taskloom.journal.pgconnect import split_url

    with WorkflowBuilder("held"):

        @task(id="hold_me")
        async def hold_me(ctx: Context) -> Context:
            await asyncio.sleep(5)
            return ctx

    worker = Worker(pg_schema_url, workflows=["held"], poll_interval=0.1).start()
    conninfo, schema = split_url(pg_schema_url)
    try:
        handle = client.start("held", {}, workflow_timeout=0.3)
        wait_for(lambda: worker.running, 5, "the task to start")
        with psycopg.connect(conninfo) as locker:
            locker.execute(
                f"SELECT 1 FROM {schema}.task_runs WHERE run_id = %s FOR UPDATE",
                (handle.run_id,),
            )
            held_until = time.time() + hold
            time.sleep(max(0.0, held_until - time.time()))
            ended_early = client.journal.get_run(handle.run_id)
            locker.commit()
        result = handle.result(timeout=10)
        wait_for(
            lambda: _statuses(client.result(handle.run_id)) == {"hold_me": "Cancelled"},
            5,
            "the held row to be cancelled",
        )
    finally:
        worker.stop(timeout=10)
    assert ended_early is not None
    assert result.status == "Failed"
    assert result.error_message == "workflow 'held' timed out after 0.3 s"
    assert result.ended_at is not None
    if hold < 1.0:  # exact: the run ended after the row was free
        assert ended_early.status == "Running"
        assert result.ended_at.timestamp() >= held_until - 0.05
    else:  # ended while the row was still held (after ~1 s of trying)
        assert ended_early.status == "Failed"
        assert result.ended_at.timestamp() < held_until


def test_the_runs_default_task_timeout_reaches_the_workers_like_a_local_runners(
    client: Client, pg_schema_url: str, db_url: str
) -> None:
    """``task_timeout_seconds`` of a client-mode runner times out the attempts of tasks
    that set no timeout (retried by their policy), as locally; a task's own timeout
    wins; without a run default the worker's ``task_timeout`` applies."""
    with WorkflowBuilder("slowpokes"):

        @task(id="slow", retry_attempts=2, retry_delay_ms=10)
        def slow(ctx: Context) -> Context:
            time.sleep(float(ctx.get("slow")))
            return ctx

        @task(id="patient", timeout=5.0)
        def patient(ctx: Context) -> Context:
            time.sleep(0.4)
            ctx.set("patient", True)
            return ctx

    config = DefaultRunnerConfig(task_timeout_seconds=0.2)
    worker = Worker(pg_schema_url, workflows=["slowpokes"], task_timeout=0.5).start()
    try:
        runner = DefaultRunner(pg_schema_url, config, execute=False)
        try:
            handles = {
                "run default": runner.start("slowpokes", {"slow": 0.7}),
                # No default recorded on the run: the worker's own (0.5 s) applies.
                "worker default": client.start("slowpokes", {"slow": 0.7}),
                # A run default longer than the worker's wins over it.
                "longer": client.start("slowpokes", {"slow": 0.7}, task_timeout=1.0),
            }
            results = {name: h.result(timeout=20) for name, h in handles.items()}
        finally:
            runner.shutdown()
    finally:
        worker.stop(timeout=10)
    with DefaultRunner(db_url, config) as local_runner:
        local = local_runner.execute("slowpokes", {"slow": 0.7})

    def timed_out(seconds: float) -> str:
        return (
            f"task 'slow' failed: TaskTimeoutError: task 'slow' timed out after {seconds:g} s "
            "(its thread runs on; the result is discarded)"
        )

    remote = results["run default"]
    assert (remote.status, remote.error_message) == (local.status, local.error_message)
    assert remote.error_message == timed_out(0.2)
    assert remote.task_results["slow"].attempts == local.task_results["slow"].attempts == 2
    assert _statuses(remote) == _statuses(local) == {"slow": "Failed", "patient": "Completed"}
    assert _event_kinds(client, remote.run_id).count("task_retry") == 1
    fallback = results["worker default"]
    assert fallback.error_message == timed_out(0.5)
    assert fallback.task_results["slow"].attempts == 2
    longer = results["longer"]
    assert longer.status == "Completed" and longer.task_results["slow"].attempts == 1


def test_a_distributed_flow_with_a_workflow_timeout(client: Client, pg_schema_url: str) -> None:
    @task
    async def linger(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    @flow(name="lingering")
    def lingering(seconds: float) -> Any:
        return linger(seconds)

    worker = Worker(pg_schema_url, workflows=[], flows=[lingering], steps=False).start()
    try:
        quick = client.start_flow(lingering, 0.01, workflow_timeout=5)
        assert quick.result(timeout=10) == 0.01
        began = time.monotonic()
        slow = client.start_flow(lingering, 5.0, workflow_timeout=0.3)
        with pytest.raises(TaskloomError, match=r"workflow 'lingering' timed out after 0\.3 s"):
            slow.result(timeout=10)
        assert time.monotonic() - began < 0.3 + 1.0
        # The async body was cancelled at once: the worker has nothing left running.
        wait_for(lambda: not worker.running, 2, "the worker to drop the cancelled body")
    finally:
        worker.stop(timeout=10)


def test_a_client_mode_runner_cancels_through_the_client(
    client: Client, pg_schema_url: str
) -> None:
    started = threading.Event()
    with WorkflowBuilder("cancel_me"):

        @task(id="sleeper")
        async def sleeper(ctx: Context) -> Context:
            started.set()
            await asyncio.sleep(0.8)
            return ctx

    worker = Worker(pg_schema_url, workflows=["cancel_me"]).start()
    runner = DefaultRunner(pg_schema_url, execute=False)
    try:
        handle = runner.start("cancel_me", {})
        assert started.wait(10)
        assert runner.cancel(handle.run_id) is True
        result = runner.result(handle.run_id, timeout=10)
        assert runner.cancel(handle.run_id) is False
        assert runner.cancel("no-such-run") is False
    finally:
        runner.shutdown()
        worker.stop(timeout=10)
    assert result.status == "Cancelled"
    assert _statuses(result) == {"sleeper": "Cancelled"}


def test_submitting_rejects_bad_time_limits(client: Client) -> None:
    with WorkflowBuilder("limited"):

        @task(id="only")
        def only(ctx: Context) -> Context:
            return ctx

    for bad in (0, -1.0, True, "5", float("nan")):
        with pytest.raises(ValueError, match="workflow_timeout="):
            client.submit("limited", workflow_timeout=bad)
        with pytest.raises(ValueError, match="task_timeout="):
            client.submit("limited", task_timeout=bad)


def test_step_runs_refuse_run_time_limits(client: Client) -> None:
    from taskloom.steps import Context as StepContext
    from taskloom.steps import Directive
    from taskloom.steps import Workflow as StepWorkflow
    from taskloom.steps.plan import StepPlan

    stepped = StepWorkflow(workflow_type="Stepped")

    @stepped.start()
    async def begin(ctx: StepContext) -> Directive:
        return ctx.next.complete(None)

    plan = StepPlan(stepped, "stepped-1", client)  # type: ignore[arg-type]
    for limits in ({"workflow_timeout": 5}, {"task_timeout": 5}):
        with pytest.raises(ValueError, match=r"step workflow 'Stepped'.*@wf\.step\(timeout"):
            client.submit_plan(plan, "{}", **limits)


# --------------------------------------------------------------------------- no server needed

_NOWHERE = "postgresql://nobody@127.0.0.1:1/none"


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("max_concurrent_tasks", 16, "taskloom worker --concurrency"),
        ("enable_recovery", False, "--lease"),
        ("recovery_interval_seconds", 5.0, "--poll"),
        ("heartbeat_interval_seconds", 1.0, "--lease"),
        ("owner_lease_seconds", 30.0, "--lease"),
        ("thread_pool_size", 4, "Worker(thread_pool_size"),
        ("shutdown_timeout_seconds", None, "runner.result(run_id"),
    ],
)
def test_a_client_mode_runner_refuses_settings_that_belong_to_the_workers(
    field: str, value: Any, hint: str
) -> None:
    config = DefaultRunnerConfig(**{field: value})
    with pytest.raises(ValueError, match=field) as raised:
        DefaultRunner(_NOWHERE, config, execute=False)
    assert hint in str(raised.value)
    assert "execute=False" in str(raised.value)


def test_every_config_field_is_either_applied_or_refused_in_client_mode() -> None:
    """A field added to DefaultRunnerConfig must be placed: applied, no-op, or refused."""
    from dataclasses import fields

    from taskloom.dag.runner import _WORKER_SETTINGS

    applied = {"workflow_timeout_seconds", "task_timeout_seconds"}
    # A client-mode runner fires its schedules: they are queued for the workers.
    applied |= {"enable_cron_scheduling", "cron_max_catchup_executions"}
    no_ops = {
        "cron_poll_interval_seconds",
        "cron_enable_recovery",
        "cron_recovery_interval_seconds",
        "cron_lost_threshold_minutes",
        "cron_max_recovery_age_seconds",
        "cron_max_recovery_attempts",
    }
    no_ops |= {"scheduler_poll_interval_ms", "db_pool_size"}
    assert {f.name for f in fields(DefaultRunnerConfig)} == applied | no_ops | set(_WORKER_SETTINGS)


def test_a_client_mode_runner_accepts_its_run_limits_and_the_compatibility_no_ops() -> None:
    """Checked before connecting: these pass the check and fail only at the connection."""
    config = DefaultRunnerConfig(
        workflow_timeout_seconds=5,
        task_timeout_seconds=1,
        scheduler_poll_interval_ms=100,
        db_pool_size=3,
    )
    with pytest.raises(TaskloomError, match="cannot open the PostgreSQL journal"):
        DefaultRunner(_NOWHERE, config, execute=False)
