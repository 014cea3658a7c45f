"""Distributed runs mean what local runs mean: retries, skips, failures, results.

An in-process :class:`~taskloom.Worker` executes runs submitted by a
:class:`~taskloom.Client`; the same workflow also runs locally to compare.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskloom import Client, Context, DefaultRunner, Worker, WorkflowBuilder, task

pytest.importorskip("psycopg")


@pytest.fixture
def client(pg_schema_url: str) -> Iterator[Client]:
    with Client(pg_schema_url) as opened:
        yield opened


def _define() -> dict[str, int]:
    calls = {"flaky": 0}
    with WorkflowBuilder("semantics"):

        @task(id="flaky", retry_attempts=3, retry_delay_ms=50)
        def flaky(ctx: Context) -> Context:
            calls["flaky"] += 1
            if calls["flaky"] < 3:
                raise ConnectionError("not yet")
            ctx.set("flaky", calls["flaky"])
            return ctx

        @task(id="broken", retry_attempts=1)
        def broken(ctx: Context) -> Context:
            raise ValueError("always")

        @task(id="after_broken", dependencies=["broken"])
        def after_broken(ctx: Context) -> Context:
            return ctx

        @task(id="join", dependencies=["flaky"])
        def join(ctx: Context) -> Context:
            ctx.set("joined", True)
            return ctx

    return calls


def test_retries_skips_and_failures_match_local_execution(
    client: Client, pg_schema_url: str, db_url: str
) -> None:
    calls = _define()
    worker = Worker(pg_schema_url, workflows=["semantics"], lease=2.0).start()
    try:
        remote = client.execute("semantics", {"x": 1}, timeout=30)
    finally:
        worker.stop(timeout=10)
    assert calls["flaky"] == 3
    calls["flaky"] = 0
    with DefaultRunner(db_url) as runner:
        local = runner.execute("semantics", {"x": 1})
    assert remote.status == local.status == "Failed"
    assert remote.error_message == local.error_message
    assert remote.final_context.to_dict() == local.final_context.to_dict()
    for key, outcome in local.task_results.items():
        assert remote.task_results[key].status == outcome.status, key
        assert remote.task_results[key].attempts == outcome.attempts, key
    assert remote.task_results["after_broken"].status == "Skipped"
    kinds = [e.kind for e in client.journal.get_events(remote.run_id)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("task_retry") == 2


def test_a_worker_refuses_a_sqlite_url(db_url: str) -> None:
    _define()
    with pytest.raises(ValueError, match="postgresql"):
        Worker(db_url)


def _define_join() -> None:
    with WorkflowBuilder("resent_join"):

        @task(id="left")
        def left(ctx: Context) -> Context:
            return ctx

        @task(id="right")
        def right(ctx: Context) -> Context:
            return ctx

        @task(id="join", dependencies=["left", "right"])
        def join(ctx: Context) -> Context:
            return ctx


def _rows(worker: Worker, run_id: str) -> dict[str, tuple[str, int]]:
    with worker.journal.connection() as conn:
        return {
            key: (status, remaining)
            for key, status, remaining in conn.execute(
                "SELECT task_key, status, remaining_deps FROM task_runs WHERE run_id = %s",
                (run_id,),
            )
        }


@pytest.mark.parametrize("one_trip", [True, False])
def test_a_commit_sent_again_after_its_outcome_was_lost_counts_once(
    client: Client, pg_schema_url: str, one_trip: bool
) -> None:
    """A worker that lost the answer to its COMMIT sends the batch again (it cannot know the
    first one landed): the dependents and the run must not be counted down a second time."""
    from taskloom.execution.worker import _Pending
    from taskloom.journal.postgres_queue import Completion
    from taskloom.journal.records import TaskStatus

    _define_join()
    worker = Worker(pg_schema_url, workflows=["resent_join"], lease=30.0, vacuum=False)
    try:
        handle = client.start("resent_join", {})
        claims = worker.queue.claim(worker.worker_id, 5, 30.0, worker.workflows)
        left = next(c for c in claims if c.task_key == "left")
        shape = worker.plans.for_claim(left)
        assert shape is not None
        pending = _Pending(
            Completion(
                left.run_id,
                left.task_key,
                left.fence,
                TaskStatus.COMPLETED,
                output_json="{}",
                event_kind="task_succeeded",
            ),
            shape,
            None,
        )
        commit = worker._commit_one_trip if one_trip else worker._commit_two_trips
        assert commit([pending])[0] == {(left.run_id, "left")}
        assert commit([pending])[0] == set()  # the resend is rejected by the fence ...
        rows = _rows(worker, left.run_id)
        assert rows["join"] == ("Pending", 1)  # ... and counts nothing: right is not done
        assert rows["left"][0] == "Completed"
        with worker.journal.connection() as conn:
            open_tasks = conn.execute(
                "SELECT open_tasks FROM runs WHERE run_id = %s", (left.run_id,)
            ).fetchone()
            succeeded = conn.execute(
                "SELECT count(*) FROM events WHERE run_id = %s AND kind = 'task_succeeded'",
                (left.run_id,),
            ).fetchone()
        assert open_tasks == (2,)
        assert succeeded == (1,)
        assert handle.cancel()
    finally:
        worker.start().stop(timeout=10)
