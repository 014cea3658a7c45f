"""Distributed runs mean what local runs mean: retries, skips, failures, results.

An in-process :class:`~taskloom.Worker` executes runs submitted by a
:class:`~taskloom.Client`; the same workflow also runs locally to compare.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from taskloom import Client, Context, DefaultRunner, Worker, WorkflowBuilder, task
from taskloom.distributed.batch_commit import Pending
from taskloom.errors import JournalError
from taskloom.journal.queue_records import ClaimedTask
from taskloom.journal.records import TaskStatus

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


def _succeeded(worker: Worker, claim: ClaimedTask) -> Pending:
    """What ``worker`` records when ``claim``'s task returns (an empty context)."""
    shape = worker.plans.for_claim(claim)
    assert shape is not None
    completion = claim.outcome(
        TaskStatus.COMPLETED,
        output_json="{}",
        event_kind="task_succeeded",
    )
    return Pending(completion, shape, None)


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
    _define_join()
    worker = Worker(pg_schema_url, workflows=["resent_join"], lease=30.0, vacuum=False)
    try:
        handle = client.start("resent_join", {})
        claims = worker.queue.claim(worker.worker_id, 5, 30.0, worker.workflows)
        left = next(c for c in claims if c.task_key == "left")
        pending = _succeeded(worker, left)
        commit = worker.commits.one_trip if one_trip else worker.commits.two_trips
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


def _define_cancel_race(ran: list[str]) -> None:
    with WorkflowBuilder("cancel_race"):

        @task(id="only")
        def only(ctx: Context) -> Context:
            ran.append("only")
            return ctx


def _claim_during_cancel(worker: Worker, client: Client, run_id: str) -> ClaimedTask:
    """Claim ``run_id``'s task the way a claim in flight meets a cancel: the claim holds
    the row locked while the cancel commits (so the cancel skips it), then commits."""
    with worker.journal.transaction() as claiming:
        claiming.execute(
            "SELECT 1 FROM task_runs WHERE run_id = %s AND task_key = 'only' FOR UPDATE",
            (run_id,),
        )
        assert client.cancel(run_id)  # commits, skipping the locked row
        row = claiming.execute(
            "UPDATE task_runs SET status = 'Running', claimed_by = %s, fence = fence + 1, "
            "attempt = attempt + 1, lease_until = 1e12 "
            "WHERE run_id = %s AND task_key = 'only' RETURNING attempt, fence",
            (worker.worker_id, run_id),
        ).fetchone()
    assert row is not None
    run = client.journal.get_run(run_id)
    assert run is not None and run.status == "Cancelled"
    return ClaimedTask(
        run_id=run_id,
        task_key="only",
        attempt=row[0],
        fence=row[1],
        reclaimed=False,
        workflow_name=run.workflow_name,
        workflow_version=run.workflow_version,
        input_json=run.input_json,
        kind=run.kind,
    )


def test_a_task_claimed_while_its_run_is_cancelled_is_not_started(
    client: Client, pg_schema_url: str
) -> None:
    """The cancel skips rows a concurrent claim holds locked; the claim then commits a
    Running row of a cancelled run. The worker reads the run's status after its claim and
    records the task Cancelled without running it."""
    ran: list[str] = []
    _define_cancel_race(ran)
    worker = Worker(pg_schema_url, workflows=["cancel_race"], lease=30.0, vacuum=False)
    try:
        handle = client.start("cancel_race", {})
        claim = _claim_during_cancel(worker, client, handle.run_id)
        worker._start([claim])
        assert not worker.running
        worker._flush()
        assert ran == []
        (only_row,) = client.journal.get_tasks(handle.run_id)
        assert only_row.status == "Cancelled"
        kinds = [e.kind for e in client.journal.get_events(handle.run_id)]
        assert "task_cancelled" in kinds
    finally:
        worker.start().stop(timeout=10)


@pytest.mark.parametrize("one_trip", [True, False])
def test_a_task_started_as_its_run_was_cancelled_records_nothing_and_is_swept(
    client: Client, pg_schema_url: str, one_trip: bool
) -> None:
    """A task whose claim committed while the cancel was in flight may have started: its
    completion is not recorded into the ended run, and its row ends Cancelled."""
    _define_cancel_race([])
    worker = Worker(pg_schema_url, workflows=["cancel_race"], lease=30.0, vacuum=False)
    try:
        handle = client.start("cancel_race", {})
        claim = _claim_during_cancel(worker, client, handle.run_id)
        done = _succeeded(worker, claim)
        commit = worker.commits.one_trip if one_trip else worker.commits.two_trips
        assert commit([done])[0] == set()
        (only_row,) = client.journal.get_tasks(handle.run_id)
        assert only_row.status == "Cancelled"
        run = client.journal.get_run(handle.run_id)
        assert run is not None and run.status == "Cancelled"
        kinds = [e.kind for e in client.journal.get_events(handle.run_id)]
        assert "task_succeeded" not in kinds
    finally:
        worker.start().stop(timeout=10)


@pytest.mark.parametrize("one_trip", [True, False])
def test_a_row_a_cancel_skipped_is_cancelled_by_the_next_completion_of_its_run(
    client: Client, pg_schema_url: str, one_trip: bool
) -> None:
    """A cancel skips rows another transaction holds locked (a completion locks the
    dependents it releases): the join stayed Pending in a cancelled run for ever. The
    completion transactions of the run's tasks now sweep such rows."""
    _define_join()
    worker = Worker(pg_schema_url, workflows=["resent_join"], lease=30.0, vacuum=False)
    try:
        handle = client.start("resent_join", {})
        claims = worker.queue.claim(worker.worker_id, 5, 30.0, worker.workflows)
        left = next(c for c in claims if c.task_key == "left")
        with worker.journal.transaction() as holding:
            holding.execute(
                "SELECT 1 FROM task_runs WHERE run_id = %s AND task_key = 'join' FOR UPDATE",
                (handle.run_id,),
            )
            assert handle.cancel()  # skips the locked join
        assert _rows(worker, handle.run_id)["join"][0] == "Pending"
        late = _succeeded(worker, left)
        commit = worker.commits.one_trip if one_trip else worker.commits.two_trips
        assert commit([late])[0] == set()  # the cancel took the claim away
        assert {status for status, _ in _rows(worker, handle.run_id).values()} == {"Cancelled"}
    finally:
        worker.start().stop(timeout=10)


def test_claims_are_given_back_when_their_states_cannot_be_read(
    client: Client, pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that claimed tasks but could not read what it needs to start them gives
    them back at once (Retrying, not attempted) instead of holding them: its heartbeat
    would renew their leases for as long as it has other work."""
    from taskloom.errors import JournalError

    _define_join()
    first = Worker(pg_schema_url, workflows=["resent_join"], lease=30.0, vacuum=False)
    second = Worker(pg_schema_url, workflows=["resent_join"], lease=30.0, vacuum=False)
    try:
        handle = client.start("resent_join", {})
        claims = first.queue.claim(first.worker_id, 5, 30.0, first.workflows)
        assert {c.task_key for c in claims} == {"left", "right"}

        def unreadable(*_: object) -> object:
            raise JournalError("the database went away (injected)")

        monkeypatch.setattr(first.queue, "task_states", unreadable)
        first._start(claims)
        assert not first.running
        first._flush()
        rows = _rows(first, handle.run_id)
        assert rows["left"][0] == rows["right"][0] == "Retrying"
        with first.journal.connection() as conn:
            attempts = conn.execute(
                "SELECT max(attempt), count(claimed_by) FROM task_runs WHERE run_id = %s",
                (handle.run_id,),
            ).fetchone()
        assert attempts == (0, 0)  # not attempted, and nobody holds them
        second.start()
        result = client.result(handle.run_id, timeout=30)
        assert result.status == "Completed"
    finally:
        monkeypatch.undo()
        first.start().stop(timeout=10)
        second.stop(timeout=10)


def test_a_retried_commit_whose_first_try_landed_runs_its_callbacks_once(
    client: Client, pg_schema_url: str
) -> None:
    """The answer to a COMMIT is lost (the commit landed): the worker retries the batch,
    which is rejected and counts nothing twice -- and is no late completion either: the
    completion counts once and what follows it runs once."""
    _define_join()
    worker = Worker(pg_schema_url, workflows=["resent_join"], lease=30.0, vacuum=False)
    try:
        client.start("resent_join", {})
        claims = worker.queue.claim(worker.worker_id, 5, 30.0, worker.workflows)
        left = next(c for c in claims if c.task_key == "left")
        followed: list[str] = []
        pending = _succeeded(worker, left)
        pending.after = lambda: followed.append("after")
        real_commit = worker.commits.commit

        def answer_lost(batch: list[Pending]) -> tuple[set[tuple[str, str]], int]:
            real_commit(batch)
            raise JournalError("connection lost while committing (injected)")

        worker.commits.commit = answer_lost  # type: ignore[method-assign]
        worker._pending = [pending]
        worker._flush()  # lands, but looks failed: queued for a retry
        assert worker._pending == [pending] and pending.retried
        worker.commits.commit = real_commit  # type: ignore[method-assign]
        worker._flush()  # the retry
        assert followed == ["after"]
        assert (worker.completed, worker.rejected) == (1, 0)
        assert _rows(worker, left.run_id)["join"] == ("Pending", 1)
    finally:
        worker.start().stop(timeout=10)


def test_cancelling_a_run_cancels_its_async_task_running_on_a_worker(
    client: Client, pg_schema_url: str
) -> None:
    """The cancel notifies the workers: one running an async task of the run cancels it
    at once and gives its slot back, instead of running it to the end for nothing."""
    import asyncio
    import threading

    started = threading.Event()
    outcome: list[str] = []
    with WorkflowBuilder("long_async"):

        @task(id="wait")
        async def wait(ctx: Context) -> Context:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise
            outcome.append("finished")
            return ctx

    worker = Worker(pg_schema_url, workflows=["long_async"], lease=30.0, vacuum=False).start()
    try:
        handle = client.start("long_async", {})
        assert started.wait(10)
        began = time.monotonic()
        assert handle.cancel()
        deadline = began + 5
        while not outcome:
            assert time.monotonic() < deadline, "the running task was not cancelled"
            time.sleep(0.01)
        assert outcome == ["cancelled"]
        assert time.monotonic() - began < 2
        assert not worker.running
        assert worker.slots.in_use == 0
        assert handle.result(timeout=30).status == "Cancelled"
    finally:
        worker.stop(timeout=10)
