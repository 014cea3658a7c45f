"""The journal's browsing reads (the dashboard's queries) on every backend."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from taskloom.errors import JournalError
from taskloom.journal.base import Journal
from taskloom.journal.browse import RunFilter
from taskloom.journal.records import EventRecord, RunRecord, TaskRecord
from taskloom.journal.urls import open_journal


def _seed(journal: Journal) -> None:
    """Ten runs of two workflows and three styles, created one second apart."""
    for i in range(10):
        run = RunRecord(
            run_id=f"{'ab' if i % 2 else 'cd'}{i:02d}_x",
            workflow_name="etl" if i < 6 else "report",
            workflow_version="v1" if i < 3 else "v2",
            kind=("dag", "flow", "steps")[i % 3],
            status=("Running", "Completed", "Failed", "Cancelled")[i % 4],
            input_json="{}",
            created_at=1000.0 + i,
        )
        journal.create_run(run, [TaskRecord(run.run_id, "t", "Pending")])


@pytest.fixture(params=["sqlite", "memory", "postgres"])
def journal(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Journal]:
    if request.param == "sqlite":
        opened = open_journal(f"sqlite:///{tmp_path}/j.db")
    elif request.param == "memory":
        opened = open_journal("memory://")
    else:
        opened = open_journal(request.getfixturevalue("pg_url"))
    _seed(opened)
    yield opened
    opened.close()


def ids(runs: list[RunRecord]) -> list[str]:
    return [r.run_id for r in runs]


def test_newest_first_and_keyset_pages_cover_everything_once(journal: Journal) -> None:
    first = journal.search_runs(RunFilter(), 4)
    assert ids(first) == ["ab09_x", "cd08_x", "ab07_x", "cd06_x"]
    last = first[-1]
    second = journal.search_runs(RunFilter(), 4, (last.created_at, last.run_id))
    third = journal.search_runs(RunFilter(), 4, (second[-1].created_at, second[-1].run_id))
    assert ids(second) == ["ab05_x", "cd04_x", "ab03_x", "cd02_x"]
    assert ids(third) == ["ab01_x", "cd00_x"]


def test_filters_combine(journal: Journal) -> None:
    assert ids(journal.search_runs(RunFilter(workflow="report"))) == [
        "ab09_x",
        "cd08_x",
        "ab07_x",
        "cd06_x",
    ]
    assert ids(journal.search_runs(RunFilter(status="Failed"))) == ["cd06_x", "cd02_x"]
    assert ids(journal.search_runs(RunFilter(kind="steps"))) == ["cd08_x", "ab05_x", "cd02_x"]
    assert ids(journal.search_runs(RunFilter(workflow="etl", version="v1"))) == [
        "cd02_x",
        "ab01_x",
        "cd00_x",
    ]
    window = RunFilter(created_from=1003.0, created_to=1005.0)
    assert ids(journal.search_runs(window)) == ["cd04_x", "ab03_x"]
    assert ids(journal.search_runs(RunFilter(run_id_prefix="ab0"))) == [
        "ab09_x",
        "ab07_x",
        "ab05_x",
        "ab03_x",
        "ab01_x",
    ]
    assert ids(journal.search_runs(RunFilter(run_id_prefix="cd04_x"))) == ["cd04_x"]
    # LIKE wildcards in a prefix are literal characters.
    assert journal.search_runs(RunFilter(run_id_prefix="c_0")) == []
    assert journal.search_runs(RunFilter(run_id_prefix="%")) == []


def test_counts_per_status_ignore_the_status_filter(journal: Journal) -> None:
    assert journal.count_runs(RunFilter(status="Failed")) == {
        "Running": 3,
        "Completed": 3,
        "Failed": 2,
        "Cancelled": 2,
    }
    assert journal.count_runs(RunFilter(workflow="report")) == {
        "Completed": 1,
        "Failed": 1,
        "Running": 1,
        "Cancelled": 1,
    }


def test_workflow_stats(journal: Journal) -> None:
    stats = {(s.name, s.version, s.kind): s for s in journal.workflow_stats()}
    assert len(stats) == 9
    assert stats[("report", "v2", "dag")].runs == 2
    assert stats[("report", "v2", "dag")].success_rate == 0.5
    etl_v1 = [s for (n, v, _), s in stats.items() if n == "etl" and v == "v1"]
    assert sum(s.runs for s in etl_v1) == 3
    assert journal.workflow_names() == ["etl", "report"]
    first = journal.workflow_stats()[0]
    assert first.last_created_at == 1009.0


def test_latest_event_id_moves_with_every_event(journal: Journal) -> None:
    before = journal.latest_event_id()
    assert journal.latest_event_id("cd00_x") == 0
    from taskloom.journal.records import Batch

    journal.write(Batch(events=[EventRecord("cd00_x", "x", 2000.0, None, '{"a": 1}')]))
    assert journal.latest_event_id() > before
    assert journal.latest_event_id("cd00_x") == journal.latest_event_id()


def test_read_only_sqlite_journal_reads_and_cannot_write(db_url: str, tmp_path: object) -> None:
    path = db_url.removeprefix("sqlite:///")
    open_journal(db_url).close()
    journal = open_journal(db_url, read_only=True)
    try:
        assert journal.search_runs(RunFilter()) == []
        with pytest.raises(Exception, match=r"readonly|read-only|attempt to write"):
            journal.create_run(RunRecord("r", "w", "v", "dag", "Running", "{}", 1.0), [])
    finally:
        journal.close()
    # And it never creates a file that is not there.
    with pytest.raises(JournalError, match="cannot open"):
        open_journal(f"sqlite:///{path}.missing", read_only=True)
    assert not os.path.exists(f"{path}.missing")


def test_read_only_postgres_user_browses(pg_url: str) -> None:
    import psycopg

    writer = open_journal(pg_url)
    _seed(writer)
    writer.close()
    with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS taskloom_ui_reader")
        conn.execute("CREATE ROLE taskloom_ui_reader LOGIN")
        conn.execute("GRANT USAGE ON SCHEMA public TO taskloom_ui_reader")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO taskloom_ui_reader")
    reader_url = pg_url.replace("postgres@", "taskloom_ui_reader@", 1)
    assert reader_url != pg_url
    try:
        journal = open_journal(reader_url, read_only=True)
        try:
            assert len(journal.search_runs(RunFilter())) == 10
            assert journal.count_runs(RunFilter())["Running"] == 3
        finally:
            journal.close()
    finally:
        with psycopg.connect(pg_url.split("?")[0], autocommit=True) as conn:
            conn.execute("REASSIGN OWNED BY taskloom_ui_reader TO postgres")
            conn.execute("DROP OWNED BY taskloom_ui_reader")
            conn.execute("DROP ROLE taskloom_ui_reader")
