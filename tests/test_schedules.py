"""Schedules in one process: Cloaca's API, cron and DST, catch-up, triggers, the other styles.

Each firing test waits for the journal row it means (a fire, a run), never
for a fixed time; an absence is shown against a witness schedule that keeps
firing meanwhile.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import taskloom
import taskloom as cloaca
from taskloom.core import schedule_styles
from taskloom.core.cron import CronSpec, parse_interval
from taskloom.core.schedule_records import ms, new_cron_schedule
from taskloom.journal.records import RunStatus
from taskloom.journal.schedules import FireOutcome, ScheduleStore
from taskloom.journal.urls import open_journal


@pytest.fixture(autouse=True)
def _no_triggers() -> Iterator[None]:
    schedule_styles.forget_triggers()
    yield
    schedule_styles.forget_triggers()


def _wait(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll the journal until ``check()`` is truthy (the row we mean), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "the awaited journal rows never appeared"
        time.sleep(0.05)


def _workflow(name: str = "tick", seen: list[Any] | None = None) -> None:
    with cloaca.WorkflowBuilder(name):

        @cloaca.task(id=f"{name}_task")
        def body(context: cloaca.Context) -> cloaca.Context:
            if seen is not None:
                seen.append(context.to_dict())
            context.set("done", True)
            return context


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, db_url: str) -> str:
    """The journal of a firing test: each runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return db_url
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def runner(db_url: str) -> Iterator[cloaca.DefaultRunner]:
    _workflow()
    with cloaca.DefaultRunner(db_url) as started:
        yield started


@pytest.fixture
def any_runner(url: str) -> Iterator[cloaca.DefaultRunner]:
    _workflow()
    with cloaca.DefaultRunner(url) as started:
        yield started


def _started(runner: cloaca.DefaultRunner, schedule_id: str) -> list[dict[str, Any]]:
    return [h for h in runner.get_cron_execution_history(schedule_id) if h["outcome"] == "started"]


# -- cron expressions ------------------------------------------------------------------


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_five_and_six_field_expressions() -> None:
    daily = CronSpec.parse("0 6 * * *", "UTC")
    assert daily.next_after(_utc(2026, 1, 1, 5, 59, 59)) == _utc(2026, 1, 1, 6)
    assert daily.next_after(_utc(2026, 1, 1, 6)) == _utc(2026, 1, 2, 6)
    every_ten = CronSpec.parse("*/10 * * * * *")
    assert every_ten.next_after(_utc(2026, 1, 1, 0, 0, 5)) == _utc(2026, 1, 1, 0, 0, 10)
    assert every_ten.next_after(_utc(2026, 1, 1, 0, 0, 50)) == _utc(2026, 1, 1, 0, 1)
    weekdays = CronSpec.parse("30 9 * * MON-FRI", "Europe/Paris")
    # Friday 2026-01-02 09:30 CET, then Monday 2026-01-05.
    first = weekdays.next_after(_utc(2026, 1, 2))
    assert first == _utc(2026, 1, 2, 8, 30)
    assert weekdays.next_after(first) == _utc(2026, 1, 5, 8, 30)


def _local_dues(expression: str, zone: str, start: float, count: int) -> list[datetime]:
    spec = CronSpec.parse(expression, zone)
    found, t = [], start
    for _ in range(count):
        t = spec.next_after(t)
        found.append(datetime.fromtimestamp(t, ZoneInfo(zone)))
    return found


def test_a_skipped_local_hour_fires_once_right_after_the_jump() -> None:
    dues = _local_dues("30 2 * * *", "America/New_York", _utc(2026, 3, 7, 12), 3)
    assert [(d.day, d.hour, d.minute) for d in dues] == [(8, 3, 0), (9, 2, 30), (10, 2, 30)]


def test_a_repeated_local_hour_fires_once() -> None:
    for expression in ("30 1 * * *", "0 30 1 * * *"):
        dues = _local_dues(expression, "America/New_York", _utc(2026, 10, 31, 12), 3)
        assert [(d.day, d.hour, d.minute) for d in dues] == [(1, 1, 30), (2, 1, 30), (3, 1, 30)]


def test_a_wildcard_hour_fires_in_both_copies_of_a_repeated_hour() -> None:
    dues = _local_dues("0 * * * *", "America/New_York", _utc(2026, 11, 1, 4, 30), 3)
    assert [d.hour for d in dues] == [1, 1, 2]  # 01:00 EDT, 01:00 EST, 02:00 EST
    assert len({d.timestamp() for d in dues}) == 3


@pytest.mark.parametrize(
    ("expression", "zone", "needle"),
    [
        ("every day", "UTC", "it has 2 fields"),
        ("61 * * * *", "UTC", "Bad minute"),
        ("* * * *", "UTC", "it has 4 fields"),
        ("x * * * * *", "UTC", "bad seconds field 'x'"),
        ("0 6 * * *", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
        ("0 6 * * *", "", "invalid timezone ''"),
    ],
)
def test_bad_expressions_and_zones_are_refused_at_registration(
    runner: cloaca.DefaultRunner, expression: str, zone: str, needle: str
) -> None:
    with pytest.raises(ValueError, match="Failed to register cron workflow") as raised:
        runner.register_cron_workflow("tick", expression, zone)
    assert needle in str(raised.value)
    assert "for example" in str(raised.value)
    assert runner.list_cron_schedules() == []


@pytest.mark.parametrize("text", ["0s", "-5s", "5 days", "", None, "1.5x"])
def test_bad_poll_intervals(text: Any) -> None:
    with pytest.raises(ValueError, match="Invalid poll_interval"):
        parse_interval(text)


# -- the config ------------------------------------------------------------------------


def test_config_has_cloacas_fields_defaults_and_types() -> None:
    config = cloaca.DefaultRunnerConfig.default()
    expected = {
        "enable_cron_scheduling": True,
        "cron_poll_interval_seconds": 30,
        "cron_max_catchup_executions": 100,
        "cron_enable_recovery": True,
        "cron_recovery_interval_seconds": 300,
        "cron_lost_threshold_minutes": 10,
        "cron_max_recovery_age_seconds": 86400,
        "cron_max_recovery_attempts": 3,
        "db_pool_size": 10,
        "scheduler_poll_interval_ms": 100,
        "task_timeout_seconds": 300,
    }
    document = config.to_dict()
    for name, value in expected.items():
        assert document[name] == value and type(document[name]) is type(value), name
    config.cron_max_catchup_executions = 5  # settable
    assert config.to_dict()["cron_max_catchup_executions"] == 5


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("cron_max_catchup_executions", 0),
        ("cron_max_catchup_executions", "10"),
        ("enable_cron_scheduling", "yes"),
        ("scheduler_poll_interval_ms", 0),
        ("db_pool_size", True),
    ],
)
def test_config_refuses_bad_cron_settings(field: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=field):
        cloaca.DefaultRunnerConfig(**{field: bad})


def test_a_bad_setting_assigned_later_is_refused_by_the_runner(db_url: str) -> None:
    config = cloaca.DefaultRunnerConfig()
    config.cron_max_catchup_executions = -1
    with pytest.raises(ValueError, match="cron_max_catchup_executions=-1"):
        cloaca.DefaultRunner(db_url, config)


# -- Cloaca's schedule API -------------------------------------------------------------


def test_schedule_dicts_and_their_lifecycle(runner: cloaca.DefaultRunner) -> None:
    schedule_id = runner.register_cron_workflow("tick", "0 2 * * *", "America/New_York")
    found = runner.get_cron_schedule(schedule_id)
    for key in (
        "id",
        "workflow_name",
        "cron_expression",
        "timezone",
        "enabled",
        "next_run_at",
        "last_run_at",
        "created_at",
        "updated_at",
    ):
        assert key in found
    assert found["enabled"] is True
    assert found["workflow_name"] == "tick" and found["timezone"] == "America/New_York"
    next_run = datetime.fromisoformat(found["next_run_at"]).astimezone(ZoneInfo("America/New_York"))
    assert (next_run.hour, next_run.minute) == (2, 0)
    assert found["last_run_at"] is None

    other = runner.register_cron_workflow("tick", "*/5 * * * *")
    assert [s["id"] for s in runner.list_cron_schedules()] == [schedule_id, other]
    assert [s["id"] for s in runner.list_cron_schedules(limit=1, offset=1)] == [other]

    runner.update_cron_schedule(schedule_id, "15 3 * * *", "UTC")
    updated = runner.get_cron_schedule(schedule_id)
    assert (updated["cron_expression"], updated["timezone"]) == ("15 3 * * *", "UTC")
    assert datetime.fromisoformat(updated["next_run_at"]).strftime("%H:%M") == "03:15"

    runner.set_cron_schedule_enabled(schedule_id, False)
    assert runner.get_cron_schedule(schedule_id)["enabled"] is False
    assert [s["id"] for s in runner.list_cron_schedules(enabled_only=True)] == [other]
    runner.set_cron_schedule_enabled(schedule_id, True)
    assert runner.get_cron_schedule(schedule_id)["enabled"] is True

    runner.delete_cron_schedule(schedule_id)
    with pytest.raises(ValueError, match="Failed to get cron schedule") as raised:
        runner.get_cron_schedule(schedule_id)
    assert schedule_id in str(raised.value)
    with pytest.raises(ValueError, match="Failed to update cron schedule"):
        runner.update_cron_schedule(schedule_id, "0 1 * * *", "UTC")
    with pytest.raises(ValueError, match="Failed to update cron schedule"):
        runner.set_cron_schedule_enabled(schedule_id, True)
    with pytest.raises(ValueError, match="Failed to delete cron schedule"):
        runner.delete_cron_schedule(schedule_id)


@pytest.mark.parametrize("bad", ["not-a-uuid", "", 42, None])
def test_malformed_schedule_ids(runner: cloaca.DefaultRunner, bad: Any) -> None:
    for call in (
        lambda: runner.get_cron_schedule(bad),
        lambda: runner.update_cron_schedule(bad, "0 1 * * *", "UTC"),
        lambda: runner.set_cron_schedule_enabled(bad, True),
        lambda: runner.delete_cron_schedule(bad),
        lambda: runner.get_cron_execution_history(bad),
    ):
        with pytest.raises(ValueError, match="Invalid schedule ID") as raised:
            call()
        assert repr(bad) in str(raised.value)


def test_unknown_schedule_id_and_bad_update(runner: cloaca.DefaultRunner) -> None:
    unknown = "0c2f6bb8-1d0a-4a55-9b0e-2f6a0c4c7e11"
    with pytest.raises(ValueError, match=r"Failed to get cron schedule.*0c2f6bb8"):
        runner.get_cron_schedule(unknown)
    with pytest.raises(ValueError, match="Failed to get cron execution history"):
        runner.get_cron_execution_history(unknown)
    schedule_id = runner.register_cron_workflow("tick", "0 2 * * *")
    with pytest.raises(ValueError, match=r"Failed to update cron schedule.*Bad hour"):
        runner.update_cron_schedule(schedule_id, "0 25 * * *", "UTC")
    with pytest.raises(ValueError, match=r"Failed to update cron schedule.*unknown timezone"):
        runner.update_cron_schedule(schedule_id, "0 2 * * *", "Nowhere/Land")
    with pytest.raises(ValueError, match="enabled='no'"):
        runner.set_cron_schedule_enabled(schedule_id, "no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit=-1"):
        runner.list_cron_schedules(limit=-1)


def test_a_workflow_that_is_not_registered_is_refused(runner: cloaca.DefaultRunner) -> None:
    with pytest.raises(ValueError, match=r"Failed to register cron workflow.*'nope'"):
        runner.register_cron_workflow("nope", "0 2 * * *")


@pytest.mark.parametrize("since", ["yesterday", "2026-01-01T00:00:00", "", 1700000000])
def test_bad_since(runner: cloaca.DefaultRunner, since: Any) -> None:
    with pytest.raises(ValueError, match="Invalid datetime format") as raised:
        runner.get_cron_execution_stats(since)
    assert repr(since) in str(raised.value)


def test_a_schedule_fires_every_second_with_history_and_stats(url: str) -> None:
    seen: list[Any] = []
    _workflow("tick", seen)
    with cloaca.DefaultRunner(url) as runner:
        schedule_id = runner.register_cron_workflow("tick", "* * * * * *")
        history = _wait(
            lambda: len(_started(runner, schedule_id)) >= 3 and _started(runner, schedule_id)
        )
        _wait(lambda: all(h["status"] == "Completed" for h in _started(runner, schedule_id)))
        history = _started(runner, schedule_id)
        for entry in history:
            assert {"scheduled_time", "claimed_at", "run_id", "status"} <= set(entry)
            due = datetime.fromisoformat(entry["scheduled_time"])
            assert due.microsecond == 0
            assert datetime.fromisoformat(entry["claimed_at"]) >= due
            result = runner.result(entry["run_id"])
            assert result.status == "Completed"
        stats = runner.get_cron_execution_stats("2000-01-01T00:00:00Z")
        assert stats["total_executions"] >= 3
        assert stats["successful_executions"] >= 3 and stats["lost_executions"] == 0
        assert isinstance(stats["success_rate"], float) and stats["success_rate"] > 0
        assert runner.get_cron_schedule(schedule_id)["last_run_at"] is not None
        future = runner.get_cron_execution_stats("2999-01-01T00:00:00+02:00")
        assert future == {
            "total_executions": 0,
            "successful_executions": 0,
            "lost_executions": 0,
            "success_rate": 0.0,
        }


def test_pause_and_delete_take_effect_at_the_next_due_time(
    any_runner: cloaca.DefaultRunner,
) -> None:
    paused = any_runner.register_cron_workflow("tick", "* * * * * *")
    deleted = any_runner.register_cron_workflow("tick", "* * * * * *")
    witness = any_runner.register_cron_workflow("tick", "* * * * * *")
    _wait(lambda: _started(any_runner, paused) and _started(any_runner, deleted))
    any_runner.set_cron_schedule_enabled(paused, False)
    any_runner.delete_cron_schedule(deleted)
    before = (
        len(_started(any_runner, paused)),
        len(any_runner.get_cron_execution_history(deleted)),
    )
    count = len(_started(any_runner, witness))
    _wait(lambda: len(_started(any_runner, witness)) >= count + 2)
    after = (len(_started(any_runner, paused)), len(any_runner.get_cron_execution_history(deleted)))
    assert after == before
    any_runner.set_cron_schedule_enabled(paused, True)
    _wait(lambda: len(_started(any_runner, paused)) > before[0])


def test_missed_due_times_are_caught_up_to_the_limit_oldest_first(url: str) -> None:
    _workflow()
    journal = open_journal(url)
    store = ScheduleStore(journal)
    record = new_cron_schedule("dag", "tick", "* * * * * *", "UTC", "{}", None)
    missed_from = ms(time.time()) // 1000 * 1000 - 20_000
    record.next_due_ms = missed_from  # as if every process had been down for 20 s
    store.create(record)
    journal.close()
    config = cloaca.DefaultRunnerConfig(cron_max_catchup_executions=3)
    with cloaca.DefaultRunner(url, config) as runner:
        history = _wait(
            lambda: (
                [
                    h
                    for h in runner.get_cron_execution_history(record.schedule_id)
                    if h["outcome"] == "skipped"
                ]
                and runner.get_cron_execution_history(record.schedule_id)
            )
        )
        oldest_first = sorted(history, key=lambda h: h["scheduled_time"])
        caught_up = [datetime.fromisoformat(h["scheduled_time"]) for h in oldest_first[:3]]
        assert [h["outcome"] for h in oldest_first[:3]] == ["started"] * 3
        assert [ms(d.timestamp()) for d in caught_up] == [missed_from + i * 1000 for i in range(3)]
        skipped = oldest_first[3]
        assert skipped["outcome"] == "skipped" and skipped["status"] == "Skipped"
        assert skipped["skipped_count"] >= 17
        assert "cron_max_catchup_executions=3" in skipped["detail"]
        # Then it goes on firing on time.
        _wait(lambda: len(_started(runner, record.schedule_id)) >= 4)


# -- triggers -----------------------------------------------------------------------------


def test_trigger_result_api() -> None:
    fire = cloaca.TriggerResult.fire(cloaca.Context({"file": "a.csv"}))
    assert fire.is_fire_result() and not fire.is_skip_result()
    assert repr(fire) == "TriggerResult.Fire({'file': 'a.csv'})"
    assert repr(cloaca.TriggerResult.fire()) == "TriggerResult.Fire(None)"
    skip = cloaca.TriggerResult.skip()
    assert skip.is_skip_result() and repr(skip) == "TriggerResult.Skip"
    assert cloaca.TriggerResult(True, {"a": 1}).should_fire
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        cloaca.TriggerResult.fire({"when": datetime.now()})
    with pytest.raises(TypeError, match="should_fire='yes'"):
        cloaca.TriggerResult("yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"cron": "0 2 * * *", "poll_interval": "5s", "on": "tick"}, "both 'cron' and"),
        ({"cron": "0 2 * * *"}, "requires 'on'"),
        ({"poll_interval": "soon"}, "Invalid poll_interval 'soon'"),
        ({"poll_interval": "0ms"}, "Invalid poll_interval '0ms'"),
        ({"cron": "0 99 * * *", "on": "tick"}, "Bad hour"),
        ({"cron": "0 2 * * *", "on": "tick", "timezone": "Atlantis"}, "unknown timezone"),
        ({"timezone": "UTC"}, "cron triggers only"),
        ({"on": ""}, "on=''"),
        ({"allow_concurrent": "no"}, "allow_concurrent='no'"),
    ],
)
def test_trigger_decorator_refuses_bad_options(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError) as raised:
        cloaca.trigger(**options)
    assert needle in str(raised.value)


def test_poll_triggers_fire_with_their_context_and_survive_errors(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Any] = []
    _workflow("ingest", seen)
    inbox = tmp_path / "inbox.txt"
    polls: list[float] = []

    @cloaca.trigger(on="ingest", poll_interval="100ms")
    def file_watcher() -> cloaca.TriggerResult:
        polls.append(time.time())
        if inbox.exists():
            name = inbox.read_text()
            inbox.unlink()
            return cloaca.TriggerResult.fire(cloaca.Context({"file": name}))
        return cloaca.TriggerResult.skip()

    @cloaca.trigger(name="broken", on="ingest", poll_interval="100ms")
    def broken_check() -> bool:
        raise RuntimeError("the disk is gone")

    assert file_watcher().is_skip_result()  # still a plain function
    with cloaca.DefaultRunner(url) as runner:
        names = {t["trigger_name"] for t in runner.list_trigger_schedules()}
        assert names == {"file_watcher", "broken"}
        info = runner.get_trigger_schedule("file_watcher")
        assert info is not None and info["poll_interval_ms"] == 100
        assert info["workflow_name"] == "ingest" and info["allow_concurrent"] is False
        assert runner.get_trigger_schedule("nope") is None
        staged = tmp_path / "inbox.tmp"
        staged.write_text("a.csv")
        staged.rename(inbox)  # appears whole: the poll runs on another thread meanwhile
        fired = _wait(
            lambda: [
                h
                for h in runner.get_trigger_execution_history("file_watcher")
                if h["run_id"] and h["status"] == "Completed"
            ]
        )
        assert seen[-1]["file"] == "a.csv"
        assert fired[0]["pipeline_execution_id"] == fired[0]["run_id"]
        errors = _wait(lambda: runner.get_trigger_execution_history("broken"))
        assert errors[0]["outcome"] == "error" and "the disk is gone" in errors[0]["detail"]
        assert "Traceback" in errors[0]["detail"]
        # The failing trigger neither stops the poller nor the other trigger.
        count = len(polls)
        _wait(lambda: len(polls) >= count + 3)
        assert any("trigger 'broken' raised" in r.getMessage() for r in caplog.records)
        runner.set_trigger_enabled("file_watcher", False)
        assert runner.get_trigger_schedule("file_watcher")["enabled"] is False  # type: ignore[index]
        with pytest.raises(ValueError, match=r"Failed to update trigger.*'nope'"):
            runner.set_trigger_enabled("nope", True)
        with pytest.raises(ValueError, match="no trigger named 'nope'"):
            runner.get_trigger_execution_history("nope")


def test_allow_concurrent_false_skips_while_the_previous_run_runs(url: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    with cloaca.WorkflowBuilder("slow"):

        @cloaca.task(id="wait")
        def wait(context: cloaca.Context) -> cloaca.Context:
            while gate.exists():
                time.sleep(0.02)
            return context

    @cloaca.trigger(on="slow", poll_interval="100ms")
    def always_fire() -> bool:
        return True

    with cloaca.DefaultRunner(url) as runner:
        history = _wait(
            lambda: [
                h
                for h in runner.get_trigger_execution_history("always_fire")
                if h["outcome"] == "skipped"
            ]
        )
        assert "is still running" in history[0]["detail"]
        started = [
            h
            for h in runner.get_trigger_execution_history("always_fire")
            if h["outcome"] == "started"
        ]
        assert len(started) == 1
        gate.unlink()


def test_a_cron_trigger_schedules_its_workflow(db_url: str) -> None:
    _workflow()
    called: list[int] = []

    @cloaca.trigger(name="nightly", on="tick", cron="0 2 * * *", timezone="Europe/Paris")
    def nightly() -> None:
        called.append(1)

    with cloaca.DefaultRunner(db_url) as runner:
        crons = runner.list_cron_schedules()
        assert [(c["name"], c["workflow_name"], c["timezone"]) for c in crons] == [
            ("nightly", "tick", "Europe/Paris")
        ]
        assert runner.get_trigger_schedule("nightly")["poll_interval_ms"] is None  # type: ignore[index]
    with cloaca.DefaultRunner(db_url) as again:  # a restart does not register it twice
        assert len(again.list_cron_schedules()) == 1
    assert called == []


# -- the other two styles ------------------------------------------------------------------


def test_a_flow_scheduled_with_arguments(url: str) -> None:
    @taskloom.task
    def double(n: int) -> int:
        return 2 * n

    @taskloom.task
    def label(value: int, prefix: str) -> str:
        return f"{prefix}{value}"

    @taskloom.flow
    def doubled(n: int, prefix: str = "x") -> Any:
        return label(double(n), prefix)

    schedule_id = taskloom.schedule(
        doubled, cron="* * * * * *", args=(21,), kwargs={"prefix": "="}, db=url
    )
    journal = open_journal(url)
    store = ScheduleStore(journal)
    loop = taskloom.serve_schedules(url)
    try:
        fire = _wait(
            lambda: [
                f
                for f in store.history(schedule_id)
                if f.outcome == FireOutcome.STARTED and f.run_status == RunStatus.COMPLETED
            ]
        )
        run = journal.get_run(fire[0].run_id or "")
        assert run is not None and run.kind == "flow" and json.loads(run.final_json or "") == "=42"
    finally:
        loop.stop()
        journal.close()


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda f: taskloom.schedule(f, cron="* * * * *", args=(datetime.now(),)), "args="),
        (lambda f: taskloom.schedule(f, cron="* * * * *", kwargs={1: 2}), "kwargs="),
        (lambda f: taskloom.schedule("nope", cron="* * * * *"), "'nope' is not a @flow"),
        (lambda f: taskloom.schedule(f, cron="daily"), "invalid cron expression"),
        (lambda f: taskloom.schedule(f, cron="* * * * *", timezone="Moon"), "unknown timezone"),
    ],
)
def test_bad_flow_schedules(db_url: str, call: Callable[[Any], Any], needle: str) -> None:
    @taskloom.task
    def one() -> int:
        return 1

    @taskloom.flow
    def single() -> int:
        return one()

    with pytest.raises(ValueError) as raised:
        call(single)
    assert needle in str(raised.value)


def test_a_step_workflow_scheduled_with_its_input(url: str) -> None:
    from taskloom.steps import Client, Context, Directive, Workflow

    greet = Workflow(workflow_type="ScheduledGreeting")

    @greet.start()
    async def start(ctx: Context, name: str) -> Directive:
        return ctx.next.complete({"hello": name})

    client = Client(url)
    schedule_id = client.schedule("ScheduledGreeting", cron="* * * * * *", input={"name": "ada"})
    with pytest.raises(ValueError, match="no step workflow of type 'Nope'"):
        client.schedule("Nope", cron="* * * * *")
    with pytest.raises(ValueError, match="the input cannot be recorded"):
        client.schedule("ScheduledGreeting", cron="* * * * *", input={"x": object()})
    journal = open_journal(url)
    store = ScheduleStore(journal)
    loop = taskloom.serve_schedules(url)
    try:
        fire = _wait(
            lambda: [
                f
                for f in store.history(schedule_id)
                if f.outcome == FireOutcome.STARTED and f.run_status == RunStatus.COMPLETED
            ]
        )
        run_id = fire[0].run_id or ""
        assert run_id.startswith("ScheduledGreeting@")
        assert client.get_handle(run_id).result(5) == {"hello": "ada"}
    finally:
        loop.stop()
        journal.close()


# -- the command line -------------------------------------------------------------------

_DEFINITIONS = """
import taskloom as cloaca
from taskloom import flow, task

with cloaca.WorkflowBuilder("cli_tick"):
    @cloaca.task(id="only")
    def only(ctx):
        return ctx

@task
def add_one(n: int) -> int:
    return n + 1

@flow
def cli_flow(n: int = 1):
    return add_one(n)
"""


@pytest.fixture
def definitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "sched_defs.py"
    path.write_text(_DEFINITIONS)
    yield path
    sys.modules.pop("sched_defs", None)


def test_cli_adds_lists_pauses_resumes_and_deletes(
    db_url: str, definitions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskloom.cli import main

    target = f"{definitions}:cli_tick"
    assert (
        main(
            [
                "schedules",
                "add",
                target,
                "--cron",
                "0 2 * * *",
                "--name",
                "nightly",
                "--timezone",
                "Europe/Paris",
                "--context",
                '{"k": 1}',
                "--db",
                db_url,
            ]
        )
        == 0
    )
    assert "added schedule" in capsys.readouterr().out
    assert (
        main(
            [
                "schedules",
                "add",
                f"{definitions}:cli_flow",
                "--cron",
                "*/5 * * * *",
                "--params",
                '{"n": 3}',
                "--db",
                db_url,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["schedules", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "NEXT FIRE" in out and "nightly" in out and "dag:cli_tick" in out
    assert "flow:cli_flow" in out
    assert main(["schedules", "pause", "nightly", "--db", db_url]) == 0
    capsys.readouterr()
    assert main(["schedules", "list", "--json", "--db", db_url]) == 0
    listed = {d["trigger_name"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed["nightly"]["enabled"] is False and listed["nightly"]["next_run_at"]
    journal = open_journal(db_url)
    store = ScheduleStore(journal)
    nightly = store.get_by_name("nightly")
    assert nightly is not None and not nightly.enabled and nightly.input_json == '{"k": 1}'
    assert main(["schedules", "resume", "nightly", "--db", db_url]) == 0
    assert store.get_by_name("nightly").enabled  # type: ignore[union-attr]
    assert main(["schedules", "delete", nightly.schedule_id, "--db", db_url]) == 0
    assert store.get_by_name("nightly") is None
    journal.close()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["add", "{defs}:cli_tick", "--cron", "0 99 * * *"], "Bad hour"),
        (
            ["add", "{defs}:cli_tick", "--cron", "0 2 * * *", "--timezone", "Nowhere"],
            "unknown timezone",
        ),
        (["add", "{defs}:missing", "--cron", "0 2 * * *"], "'missing' is not a workflow"),
        (["add", "{defs}:cli_tick", "--cron", "0 2 * * *", "--params", "{}"], "--params"),
        (["add", "{defs}:cli_flow", "--cron", "0 2 * * *", "--context", "{}"], "--params"),
        (["pause", "nope"], "no schedule with id or name 'nope'"),
        (["delete", "nope"], "no schedule with id or name 'nope'"),
    ],
)
def test_cli_bad_input(
    db_url: str, definitions: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    from taskloom.cli import main

    open_journal(db_url).close()
    argv = [a.replace("{defs}", str(definitions)) for a in argv]
    assert main(["schedules", *argv, "--db", db_url]) == 2
    assert needle in capsys.readouterr().err


def test_taskloom_runs_shows_which_schedule_started_a_run(
    runner: cloaca.DefaultRunner, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskloom.cli import main

    schedule_id = runner.register_cron_workflow("tick", "* * * * * *")
    fired = _wait(lambda: _started(runner, schedule_id))
    runner.execute("tick", {})  # and one run started by hand
    assert main(["runs", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "STARTED BY" in out and f"cron {schedule_id[:8]}" in out
    assert main(["runs", "--json", "--db", db_url]) == 0
    documents = json.loads(capsys.readouterr().out)
    by_id = {d["run_id"]: d["started_by"] for d in documents}
    assert by_id[fired[0]["run_id"]] == f"cron {schedule_id[:8]}"
    assert None in by_id.values()
