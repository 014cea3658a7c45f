"""The journal backends, tested directly: what the engine relies on.

Every behaviour test runs against the backends a URL can name: a SQLite
file, an in-memory SQLite database, the pure-Python ``MemoryJournal`` and
PostgreSQL (a schema of its own per test; PostgreSQL-only behaviour is in
test_postgres_journal.py). The SQLite-only tests check the file settings (WAL,
``synchronous``), schema migration across processes and URL parsing.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloom.errors import JournalError
from taskloom.journal.base import Journal
from taskloom.journal.memory import MemoryJournal
from taskloom.journal.records import (
    Batch,
    EventRecord,
    RunnerRecord,
    RunRecord,
    RunStatus,
    RunUpdate,
    TaskRecord,
    TaskStatus,
)
from taskloom.journal.sqlite import LATEST_VERSION, SQLiteJournal
from taskloom.journal.urls import DEFAULT_URL, ENV_VAR, open_journal, resolve_url

CRASHAPPS = Path(__file__).parent / "crashapps"
BACKENDS = ("sqlite-file", "sqlite-memory", "memory", "postgres")


@pytest.fixture(params=BACKENDS)
def journal(request: pytest.FixtureRequest, db_url: str) -> Iterator[Journal]:
    kind = request.param
    if kind == "sqlite-file":
        opened = open_journal(db_url)
    elif kind == "sqlite-memory":
        opened = open_journal("sqlite://:memory:")
    elif kind == "postgres":
        opened = open_journal(request.getfixturevalue("pg_schema_url"))
    else:
        opened = MemoryJournal()
    yield opened
    opened.close()


def make_run(
    run_id: str,
    created_at: float = 1000.0,
    status: str = RunStatus.RUNNING,
    owner: str | None = "owner-a",
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow_name="wf",
        workflow_version="v1",
        kind="dag",
        status=status,
        input_json='{"x":1}',
        created_at=created_at,
        owner_id=owner,
    )


def make_tasks(run_id: str, keys: tuple[str, ...] = ("a", "b", "c")) -> list[TaskRecord]:
    return [TaskRecord(run_id, key, TaskStatus.PENDING, seq=i) for i, key in enumerate(keys)]


# --------------------------------------------------------------------------- runs


def test_create_and_get_run_round_trip(journal: Journal) -> None:
    run = make_run("r1")
    run.final_json = None
    journal.create_run(run, make_tasks("r1"))
    assert journal.get_run("r1") == run
    assert journal.get_run("missing") is None
    assert [t.task_key for t in journal.get_tasks("r1")] == ["a", "b", "c"]
    assert journal.get_tasks("missing") == []
    assert journal.get_events("missing") == []


def test_records_are_copies(journal: Journal) -> None:
    run = make_run("r1")
    tasks = make_tasks("r1")
    journal.create_run(run, tasks)
    run.status = RunStatus.FAILED
    tasks[0].status = TaskStatus.COMPLETED
    fetched = journal.get_run("r1")
    assert fetched is not None and fetched.status == RunStatus.RUNNING
    fetched.status = RunStatus.CANCELLED
    assert journal.get_run("r1").status == RunStatus.RUNNING  # type: ignore[union-attr]
    assert journal.get_tasks("r1")[0].status == TaskStatus.PENDING


def test_duplicate_run_id_is_refused_and_the_first_run_kept(journal: Journal) -> None:
    journal.create_run(make_run("r1"), make_tasks("r1"))
    duplicate = make_run("r1", created_at=2000.0)
    duplicate.input_json = '{"other":true}'
    with pytest.raises(Exception):  # noqa: B017 - each backend has its own error type
        journal.create_run(duplicate, make_tasks("r1", ("z",)))
    kept = journal.get_run("r1")
    assert kept is not None and kept.input_json == '{"x":1}'
    assert [t.task_key for t in journal.get_tasks("r1")] == ["a", "b", "c"]


def test_list_runs_newest_first_with_limit_and_status(journal: Journal) -> None:
    journal.create_run(make_run("old", 100.0), [])
    journal.create_run(make_run("new", 300.0, RunStatus.COMPLETED), [])
    journal.create_run(make_run("mid", 200.0, RunStatus.FAILED), [])
    journal.create_run(make_run("tie-1", 250.0), [])
    journal.create_run(make_run("tie-2", 250.0), [])  # same time: the later insert is newer
    assert [r.run_id for r in journal.list_runs()] == ["new", "tie-2", "tie-1", "mid", "old"]
    assert [r.run_id for r in journal.list_runs(limit=2)] == ["new", "tie-2"]
    assert [r.run_id for r in journal.list_runs(status=RunStatus.RUNNING)] == [
        "tie-2",
        "tie-1",
        "old",
    ]
    assert [r.run_id for r in journal.list_runs(limit=1, status=RunStatus.RUNNING)] == ["tie-2"]
    assert [r.run_id for r in journal.list_runs(status=RunStatus.FAILED)] == ["mid"]
    assert journal.list_runs(status=RunStatus.CANCELLED) == []


def test_unfinished_runs_oldest_first(journal: Journal) -> None:
    journal.create_run(make_run("b", 200.0), [])
    journal.create_run(make_run("done", 50.0, RunStatus.COMPLETED), [])
    journal.create_run(make_run("a", 100.0), [])
    journal.create_run(make_run("c", 300.0), [])
    journal.write(Batch(runs=[RunUpdate("c", RunStatus.CANCELLED, None, "stop", 301.0)]))
    assert [r.run_id for r in journal.unfinished_runs()] == ["a", "b"]


def test_get_tasks_in_creation_order(journal: Journal) -> None:
    tasks = [
        TaskRecord("r1", "zeta", TaskStatus.PENDING, seq=0),
        TaskRecord("r1", "alpha", TaskStatus.PENDING, seq=1),
        TaskRecord("r1", "mid", TaskStatus.PENDING, seq=2),
    ]
    journal.create_run(make_run("r1"), tasks)
    journal.create_run(make_run("r2"), make_tasks("r2", ("other",)))
    # Updating a task does not move it, even if the update carries another seq.
    journal.write(Batch(tasks=[TaskRecord("r1", "zeta", TaskStatus.RUNNING, attempt=1, seq=99)]))
    fetched = journal.get_tasks("r1")
    assert [t.task_key for t in fetched] == ["zeta", "alpha", "mid"]
    assert [t.seq for t in fetched] == [0, 1, 2]
    assert fetched[0].status == TaskStatus.RUNNING and fetched[0].attempt == 1


def test_write_upserts_every_task_field(journal: Journal) -> None:
    journal.create_run(make_run("r1"), make_tasks("r1"))
    done = TaskRecord(
        "r1",
        "b",
        TaskStatus.COMPLETED,
        attempt=2,
        next_retry_at=None,
        started_at=10.5,
        ended_at=11.25,
        output_json='{"y":2}',
        error=None,
        traceback=None,
        seq=1,
    )
    waiting = TaskRecord(
        "r1",
        "c",
        TaskStatus.RETRYING,
        attempt=1,
        next_retry_at=99.5,
        started_at=10.0,
        error="RuntimeError: boom",
        traceback="Traceback ...",
        seq=2,
    )
    added = TaskRecord("r1", "late", TaskStatus.PENDING, seq=3)
    journal.write(Batch(tasks=[done, waiting, added]))
    fetched = {t.task_key: t for t in journal.get_tasks("r1")}
    assert fetched["b"] == done
    assert fetched["c"] == waiting
    assert fetched["late"] == added
    assert fetched["a"] == TaskRecord("r1", "a", TaskStatus.PENDING, seq=0)
    assert fetched["b"].duration == pytest.approx(0.75)


def test_run_update_keeps_final_output_unless_given(journal: Journal) -> None:
    journal.create_run(make_run("r1"), [])
    journal.write(Batch(runs=[RunUpdate("r1", RunStatus.COMPLETED, '{"out":1}', None, 5.0)]))
    run = journal.get_run("r1")
    assert run is not None
    assert (run.status, run.final_json, run.error, run.ended_at) == (
        RunStatus.COMPLETED,
        '{"out":1}',
        None,
        5.0,
    )
    journal.write(Batch(runs=[RunUpdate("r1", RunStatus.FAILED, None, "late failure", 6.0)]))
    run = journal.get_run("r1")
    assert run is not None
    assert (run.status, run.final_json, run.error, run.ended_at) == (
        RunStatus.FAILED,
        '{"out":1}',
        "late failure",
        6.0,
    )
    assert run.owner_id == "owner-a"
    assert run.input_json == '{"x":1}'


def test_events_oldest_first_with_increasing_ids(journal: Journal) -> None:
    journal.create_run(make_run("r1"), [])
    journal.create_run(make_run("r2"), [])
    journal.write(
        Batch(
            events=[
                EventRecord("r1", "task_started", 1.0, "a", '{"attempt":1}'),
                EventRecord("r2", "task_started", 1.5, "x", None),
                EventRecord("r1", "task_succeeded", 2.0, "a", None),
            ]
        )
    )
    journal.write(Batch(events=[EventRecord("r1", "run_finished", 3.0, None, '{"s":1}')]))
    events = journal.get_events("r1")
    assert [(e.kind, e.at, e.task_key, e.data_json) for e in events] == [
        ("task_started", 1.0, "a", '{"attempt":1}'),
        ("task_succeeded", 2.0, "a", None),
        ("run_finished", 3.0, None, '{"s":1}'),
    ]
    ids = [e.event_id for e in events]
    assert all(isinstance(i, int) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e.kind for e in journal.get_events("r2")] == ["task_started"]


def test_empty_batch_is_a_no_op(journal: Journal) -> None:
    journal.create_run(make_run("r1"), make_tasks("r1"))
    journal.write(Batch())
    assert journal.get_events("r1") == []
    assert journal.get_run("r1") == make_run("r1")


# --------------------------------------------------------------------------- atomicity


def _seed_for_atomicity(journal: Journal) -> None:
    journal.create_run(make_run("r1"), make_tasks("r1"))
    journal.write(Batch(events=[EventRecord("r1", "seeded", 1.0)]))


def _check_untouched(journal: Journal) -> None:
    assert journal.get_run("r1") == make_run("r1")
    assert journal.get_tasks("r1") == make_tasks("r1")
    assert [e.kind for e in journal.get_events("r1")] == ["seeded"]


def _batch_failing_at_the_run_update(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> Batch:
    """A batch whose tasks and events are fine but whose run update fails.

    SQLite refuses the NULL status (NOT NULL column); the memory journal is
    made to fail at the same point by a run table that breaks on lookup.
    """
    batch = Batch(
        tasks=[
            TaskRecord("r1", "a", TaskStatus.COMPLETED, attempt=1, output_json="{}", seq=0),
            TaskRecord("r1", "new", TaskStatus.PENDING, seq=7),
        ],
        events=[EventRecord("r1", "task_succeeded", 2.0, "a")],
        runs=[RunUpdate("r1", None, None, None, 3.0)],  # type: ignore[arg-type]
    )
    if isinstance(journal, MemoryJournal):

        class BrokenRuns(dict):  # type: ignore[type-arg]
            def get(self, key: object, default: object = None) -> object:
                raise OSError("simulated failure while updating the run")

        monkeypatch.setattr(journal, "_runs", BrokenRuns(journal._runs))
    return batch


def test_failed_batch_leaves_nothing_written(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed_for_atomicity(journal)
    batch = _batch_failing_at_the_run_update(journal, monkeypatch)
    with pytest.raises(Exception):  # noqa: B017 - the backend's own error
        journal.write(batch)
    monkeypatch.undo()
    _check_untouched(journal)
    # The journal stays usable after the failure.
    journal.write(Batch(events=[EventRecord("r1", "after", 4.0)]))
    assert [e.kind for e in journal.get_events("r1")] == ["seeded", "after"]


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory"])
def test_sqlite_batch_with_a_bad_task_row_leaves_nothing_written(kind: str, db_url: str) -> None:
    journal = open_journal(db_url if kind == "sqlite-file" else "sqlite://:memory:")
    try:
        _seed_for_atomicity(journal)
        batch = Batch(
            tasks=[
                TaskRecord("r1", "a", TaskStatus.COMPLETED, attempt=1, output_json="{}", seq=0),
                TaskRecord("r1", "b", None, seq=1),  # type: ignore[arg-type]
            ],
            events=[EventRecord("r1", "task_succeeded", 2.0, "a")],
            runs=[RunUpdate("r1", RunStatus.COMPLETED, "{}", None, 3.0)],
        )
        with pytest.raises((JournalError, sqlite3.Error)):
            journal.write(batch)
        _check_untouched(journal)
    finally:
        journal.close()


def test_sqlite_failed_batch_is_visible_to_no_other_connection(db_url: str) -> None:
    writer = open_journal(db_url)
    reader = open_journal(db_url)
    try:
        _seed_for_atomicity(writer)
        batch = Batch(
            tasks=[TaskRecord("r1", "a", TaskStatus.COMPLETED, attempt=1, seq=0)],
            events=[EventRecord("r1", "task_succeeded", 2.0, "a")],
            runs=[RunUpdate("r1", None, None, None, 3.0)],  # type: ignore[arg-type]
        )
        with pytest.raises((JournalError, sqlite3.Error)):
            writer.write(batch)
        _check_untouched(reader)
    finally:
        writer.close()
        reader.close()


def test_sqlite_write_failure_raises_journal_error(db_url: str) -> None:
    """errors.JournalError: "The journal could not be opened, migrated or written"."""
    journal = open_journal(db_url)
    try:
        journal.create_run(make_run("r1"), make_tasks("r1"))
        with pytest.raises(JournalError, match=r"r1|NOT NULL|status"):
            journal.write(Batch(runs=[RunUpdate("r1", None, None, None, 3.0)]))  # type: ignore[arg-type]
    finally:
        journal.close()


# --------------------------------------------------------------------------- ownership


def test_claim_run_is_compare_and_set(journal: Journal) -> None:
    journal.create_run(make_run("r1", owner="dead"), [])
    assert journal.claim_run("r1", "runner-1", "dead") is True
    assert journal.claim_run("r1", "runner-2", "dead") is False
    assert journal.get_run("r1").owner_id == "runner-1"  # type: ignore[union-attr]
    assert journal.claim_run("r1", "runner-2", "runner-1") is True
    assert journal.get_run("r1").owner_id == "runner-2"  # type: ignore[union-attr]
    assert journal.claim_run("missing", "runner-1", None) is False


def test_claim_run_without_owner(journal: Journal) -> None:
    journal.create_run(make_run("r1", owner=None), [])
    assert journal.claim_run("r1", "runner-1", "someone") is False
    assert journal.claim_run("r1", "runner-1", None) is True
    assert journal.claim_run("r1", "runner-2", None) is False
    assert journal.get_run("r1").owner_id == "runner-1"  # type: ignore[union-attr]


def test_finished_run_cannot_be_claimed(journal: Journal) -> None:
    journal.create_run(make_run("r1", owner="dead"), [])
    journal.write(Batch(runs=[RunUpdate("r1", RunStatus.COMPLETED, "{}", None, 2.0)]))
    assert journal.claim_run("r1", "runner-1", "dead") is False
    assert journal.get_run("r1").owner_id == "dead"  # type: ignore[union-attr]


def test_racing_claims_on_one_file_have_one_winner(db_url: str) -> None:
    setup = open_journal(db_url)
    setup.create_run(make_run("r1", owner="dead"), [])
    setup.close()
    contenders = 6
    journals = [open_journal(db_url) for _ in range(contenders)]
    barrier = threading.Barrier(contenders)
    wins: list[bool] = [False] * contenders

    def claim(i: int) -> None:
        barrier.wait()
        wins[i] = journals[i].claim_run("r1", f"runner-{i}", "dead")

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert sum(wins) == 1, wins
        winner = wins.index(True)
        assert journals[0].get_run("r1").owner_id == f"runner-{winner}"  # type: ignore[union-attr]
    finally:
        for opened in journals:
            opened.close()


def test_runners_register_heartbeat_unregister(journal: Journal) -> None:
    assert journal.list_runners() == []
    a = RunnerRecord("host:1:a", "host", 1, 10.0, 10.0)
    b = RunnerRecord("host:2:b", "other-host", 2, 11.0, 11.0)
    journal.register_runner(a)
    journal.register_runner(b)
    assert sorted(journal.list_runners(), key=lambda r: r.runner_id) == [a, b]

    journal.heartbeat("host:1:a", 20.0)
    by_id = {r.runner_id: r for r in journal.list_runners()}
    assert by_id["host:1:a"].heartbeat_at == 20.0
    assert by_id["host:1:a"].started_at == 10.0
    assert by_id["host:2:b"].heartbeat_at == 11.0

    # Registering again refreshes the heartbeat, keeping the identity.
    journal.register_runner(RunnerRecord("host:1:a", "host", 1, 99.0, 30.0))
    by_id = {r.runner_id: r for r in journal.list_runners()}
    assert by_id["host:1:a"].heartbeat_at == 30.0
    assert (by_id["host:1:a"].hostname, by_id["host:1:a"].pid) == ("host", 1)

    journal.heartbeat("unknown", 40.0)  # not an error
    journal.unregister_runner("host:1:a")
    journal.unregister_runner("unknown")  # not an error
    assert journal.list_runners() == [b]


# --------------------------------------------------------------------------- SQLite file


def _pragma(path: str, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def test_file_is_in_wal_mode(db_url: str, tmp_path: Path) -> None:
    journal = open_journal(db_url)
    try:
        journal.create_run(make_run("r1"), [])
        assert str(_pragma(str(tmp_path / "taskloom.db"), "journal_mode")).lower() == "wal"
        assert isinstance(journal, SQLiteJournal)
        assert journal._conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    finally:
        journal.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", 1),
        ("?synchronous=FULL", 2),
        ("?synchronous=full", 2),
        ("?synchronous=OFF", 0),
        ("?synchronous=EXTRA", 3),
        ("?synchronous=NORMAL", 1),
    ],
)
def test_synchronous_setting_is_applied(db_url: str, query: str, expected: int) -> None:
    journal = open_journal(db_url + query)
    try:
        assert isinstance(journal, SQLiteJournal)
        assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == expected
        assert journal.url == db_url + query
    finally:
        journal.close()


def test_bad_synchronous_value_is_refused(db_url: str) -> None:
    with pytest.raises(ValueError, match=r"synchronous='sometimes'.*NORMAL"):
        open_journal(db_url + "?synchronous=sometimes")


def test_fresh_file_gets_the_current_schema(db_url: str, tmp_path: Path) -> None:
    journal = open_journal(db_url)
    assert isinstance(journal, SQLiteJournal)
    assert journal.schema_version == LATEST_VERSION >= 1
    journal.close()
    path = str(tmp_path / "taskloom.db")
    assert _pragma(path, "user_version") == LATEST_VERSION
    conn = sqlite3.connect(path)
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    finally:
        conn.close()
    assert {"runs", "task_runs", "events", "runners", "signals"} <= tables
    # Opening again migrates nothing and keeps the data.
    again = open_journal(db_url)
    try:
        assert again.schema_version == LATEST_VERSION  # type: ignore[attr-defined]
    finally:
        again.close()


def test_data_survives_reopening(db_url: str) -> None:
    first = open_journal(db_url)
    first.create_run(make_run("r1"), make_tasks("r1"))
    first.write(Batch(events=[EventRecord("r1", "x", 1.0)]))
    first.close()
    second = open_journal(db_url)
    try:
        assert second.get_run("r1") == make_run("r1")
        assert second.get_tasks("r1") == make_tasks("r1")
        assert [e.kind for e in second.get_events("r1")] == ["x"]
    finally:
        second.close()


@pytest.mark.timeout(60)
def test_processes_opening_a_new_file_at_once_all_succeed(db_url: str, tmp_path: Path) -> None:
    start_at = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, str(CRASHAPPS / "open_journal_app.py"), db_url, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        outputs.append((proc.returncode, out.strip(), err))
    for code, out, err in outputs:
        assert code == 0, err
        assert out == str(LATEST_VERSION), (out, err)
    assert _pragma(str(tmp_path / "taskloom.db"), "user_version") == LATEST_VERSION
    journal = open_journal(db_url)
    try:
        assert journal.schema_version == LATEST_VERSION  # type: ignore[attr-defined]
        journal.create_run(make_run("r1"), make_tasks("r1"))
        assert journal.get_run("r1") == make_run("r1")
    finally:
        journal.close()


def test_newer_schema_version_is_refused(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "taskloom.db"
    conn = sqlite3.connect(path)
    newer = LATEST_VERSION + 1
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.commit()
    conn.close()
    with pytest.raises(
        JournalError,
        match=rf"schema version {newer}.*newer.*\({LATEST_VERSION}\).*upgrade taskloom",
    ):
        open_journal(db_url)
    assert _pragma(str(path), "user_version") == newer, "the file must be left as it was"


def test_file_that_is_not_a_database_gives_journal_error(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "taskloom.db").write_bytes(b"this is not a SQLite database, just text" * 100)
    with pytest.raises(JournalError, match="cannot open the SQLite journal"):
        open_journal(db_url)


# --------------------------------------------------------------------------- URLs


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_journal("sqlite://relative.db")
    try:
        assert isinstance(relative, SQLiteJournal)
        relative.create_run(make_run("r1"), [])
        assert (tmp_path / "relative.db").exists()
        assert relative.url == "sqlite://relative.db"
    finally:
        relative.close()

    absolute_path = tmp_path / "sub" / "abs.db"
    absolute_path.parent.mkdir()
    absolute = open_journal(f"sqlite:///{absolute_path}")
    try:
        assert isinstance(absolute, SQLiteJournal)
        assert Path(absolute.path).resolve() == absolute_path
    finally:
        absolute.close()
    assert absolute_path.exists()

    memory = open_journal("memory://")
    assert isinstance(memory, MemoryJournal)
    assert memory.url == "memory://"

    in_memory = open_journal("SQLite://:memory:")
    try:
        assert isinstance(in_memory, SQLiteJournal) and in_memory.path == ":memory:"
    finally:
        in_memory.close()


def test_default_url_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_url(None) == DEFAULT_URL
    assert resolve_url("memory://") == "memory://"
    monkeypatch.setenv(ENV_VAR, "memory://")
    assert resolve_url(None) == "memory://"
    assert isinstance(open_journal(), MemoryJournal)
    monkeypatch.setenv(ENV_VAR, "")
    assert resolve_url(None) == DEFAULT_URL


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("taskloom.db", "malformed database url 'taskloom.db'.*SCHEME://"),
        ("://x.db", "malformed database url"),
        ("mysql://host/db", "unknown database url scheme 'mysql'.*sqlite://"),
        ("sqlite://", "no file path"),
        ("sqlite://?synchronous=FULL", "no file path"),
        ("sqlite:///no/such/dir/x.db", "directory '/no/such/dir' does not exist"),
        ("sqlite://:memory:?journal=wal", "unknown option.*journal.*synchronous"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_journal(url)


def test_url_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="must be a str, got int"):
        open_journal(42)  # type: ignore[arg-type]


def test_a_migration_numbered_below_the_newest_applied_one_is_still_applied(
    db_url: str, tmp_path: Path
) -> None:
    """Features built side by side add migrations whose numbers arrive out of order:
    a journal that never got number 12 (retention's index) gets it, though newer
    ones were applied."""
    path = tmp_path / "taskloom.db"
    open_journal(db_url).close()
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM schema_migrations WHERE version = 12")
    conn.execute("DROP INDEX runs_by_end")
    conn.commit()
    conn.close()
    open_journal(db_url).close()
    conn = sqlite3.connect(path)
    try:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    finally:
        conn.close()
    assert "runs_by_end" in indexes and 12 in applied
