"""The dashboard's Schedules page and API: listing, pause and resume, read-only, escaping."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from taskloom.core.schedule_records import new_cron_schedule
from taskloom.journal.base import Journal
from taskloom.journal.records import RunRecord
from taskloom.journal.schedules import ScheduleRecord, ScheduleStore
from taskloom.journal.urls import open_journal
from test_ui_http import BASE, XSS, client_for, csrf_of


def _scheduled(journal: Journal) -> tuple[ScheduleRecord, str]:
    """A cron schedule of a workflow with a hostile name, fired once (its run recorded)."""
    store = ScheduleStore(journal)
    record = new_cron_schedule("dag", f"wf{XSS}", "0 3 * * *", "UTC", "{}", f"nightly{XSS}")
    assert store.create(record)
    assert record.next_due_ms is not None
    due = record.next_due_ms
    run = RunRecord("r-sched-1", record.workflow_name, "v1", "dag", "Completed", "{}", time.time())
    outcome = store.fire(
        record,
        due,
        due + 86_400_000,
        run.run_id,
        lambda conn: journal.insert_run(conn, run, []),  # type: ignore[attr-defined]
    )
    assert outcome == "started"
    return record, run.run_id


@pytest.fixture
def journal(db_url: str) -> Iterator[Journal]:
    opened = open_journal(db_url)
    yield opened
    opened.close()


def _enabled(journal: Journal, schedule_id: str) -> bool:
    found = ScheduleStore(journal).get(schedule_id)
    assert found is not None
    return found.enabled


def test_page_lists_a_cron_schedule_with_next_fire_and_last_run(journal: Journal) -> None:
    record, run_id = _scheduled(journal)
    client = client_for(journal)
    page = client.get("/schedules")
    assert page.status_code == 200
    body = page.text
    assert 'href="/schedules"' in body  # the nav link
    assert record.schedule_id in body and "0 3 * * *" in body and "UTC" in body
    after = ScheduleStore(journal).get(record.schedule_id)
    assert after is not None and after.next_due_ms is not None
    from taskloom.ui.present import iso

    assert iso(after.next_due_ms / 1000) in body
    assert f'href="/runs/{run_id}"' in body and "Completed" in body
    assert XSS not in body and "&lt;script&gt;" in body


def test_api_returns_the_schedules(journal: Journal) -> None:
    record, run_id = _scheduled(journal)
    found = client_for(journal).get("/api/schedules").json()["schedules"]
    assert len(found) == 1
    one = found[0]
    assert one["id"] == record.schedule_id and one["name"] == f"nightly{XSS}"
    assert one["workflow_name"] == f"wf{XSS}" and one["cron_expression"] == "0 3 * * *"
    assert one["enabled"] is True and one["next_run_at"] is not None
    assert one["last_runs"][0]["run_id"] == run_id
    assert one["last_runs"][0]["status"] == "Completed"
    assert "GET /api/schedules" in client_for(journal).get("/api").json()["endpoints"]


def test_pause_and_resume_through_the_form_and_the_api(journal: Journal) -> None:
    record, _ = _scheduled(journal)
    client = client_for(journal)
    csrf = csrf_of(client)
    path = f"/schedules/{record.schedule_id}/action"
    assert client.post(f"{path}/pause", data={"csrf": "wrong"}).status_code == 403
    assert _enabled(journal, record.schedule_id)
    paused = client.post(f"{path}/pause", data={"csrf": csrf})
    assert paused.status_code == 303 and "/schedules?msg=" in paused.headers["location"]
    assert not _enabled(journal, record.schedule_id)
    page = client.get("/schedules").text
    assert "paused" in page and f"{path}/resume" in page
    resumed = client.post(f"{path}/resume", data={"csrf": csrf})
    assert resumed.status_code == 303
    assert _enabled(journal, record.schedule_id)
    api = f"/api/schedules/{record.schedule_id}"
    headers = {"x-csrf-token": csrf, "origin": BASE}
    assert client.post(f"{api}/pause", json={}).status_code == 403  # no token
    assert client.post(f"{api}/pause", json={}, headers=headers).json()["enabled"] is False
    assert not _enabled(journal, record.schedule_id)
    assert client.post(f"{api}/resume", json={}, headers=headers).json()["enabled"] is True
    assert _enabled(journal, record.schedule_id)
    missing = client.post("/api/schedules/nope/pause", json={}, headers=headers)
    assert missing.status_code == 400 and "no schedule" in missing.json()["error"]


def test_read_only_refuses_pause_and_shows_no_buttons(db_url: str) -> None:
    writable = open_journal(db_url)
    record, _ = _scheduled(writable)
    writable.close()
    journal = open_journal(db_url, read_only=True)
    try:
        client = client_for(journal, read_only=True)
        csrf = csrf_of(client)
        page = client.get("/schedules")
        assert page.status_code == 200 and record.schedule_id in page.text
        assert "/action/pause" not in page.text
        form = client.post(f"/schedules/{record.schedule_id}/action/pause", data={"csrf": csrf})
        assert form.status_code == 403
        api = client.post(
            f"/api/schedules/{record.schedule_id}/pause", json={}, headers={"x-csrf-token": csrf}
        )
        assert api.status_code == 403 and "read-only" in api.json()["error"]
        assert _enabled(journal, record.schedule_id)
    finally:
        journal.close()


def test_pause_and_resume_on_postgres(pg_url: str) -> None:
    journal = open_journal(pg_url)
    try:
        record, run_id = _scheduled(journal)
        client = client_for(journal)
        assert run_id in client.get("/schedules").text
        csrf = csrf_of(client)
        path = f"/schedules/{record.schedule_id}/action"
        assert client.post(f"{path}/pause", data={"csrf": csrf}).status_code == 303
        assert not _enabled(journal, record.schedule_id)
        assert client.post(f"{path}/resume", data={"csrf": csrf}).status_code == 303
        assert _enabled(journal, record.schedule_id)
    finally:
        journal.close()
