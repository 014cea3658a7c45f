"""The dashboard over HTTP: pages, the JSON API, the token, CSRF, escaping, masking."""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():
    # Starlette 1.x suggests httpx2 for its test client; httpx works the same here.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from taskloom.cli import main
from taskloom.journal.base import Journal
from taskloom.journal.records import Batch, EventRecord, RunRecord, TaskRecord
from taskloom.journal.urls import open_journal
from taskloom.ui.app import UiConfig, create_app
from taskloom.ui.graph import draw
from taskloom.ui.security import BindError, check_bind
from taskloom.ui.server import running

XSS = "<script>alert('pwned')</script>"
BASE = "http://127.0.0.1:8787"


def _hostile_run(journal: Journal) -> str:
    run = RunRecord(
        run_id="r-hostile",
        workflow_name=f"wf{XSS}",
        workflow_version="v1",
        kind="dag",
        status="Failed",
        input_json=json.dumps(
            {"password": "hunter2", "nested": {"api_key": "k-123", "keep": 1}, "note": XSS}
        ),
        created_at=time.time() - 5,
        error=f"task failed: {XSS}",
        ended_at=time.time() - 4,
    )
    tasks = [
        TaskRecord(
            run.run_id,
            f"t{XSS}",
            "Failed",
            2,
            error=f"ValueError: {XSS}",
            traceback=f"Traceback: {XSS}",
            started_at=run.created_at,
            seq=0,
        ),
        TaskRecord(
            run.run_id,
            "big",
            "Completed",
            1,
            output_json=json.dumps("x" * 5000),
            started_at=run.created_at,
            ended_at=run.created_at + 1,
            seq=1,
        ),
        TaskRecord(
            run.run_id,
            "secret",
            "Completed",
            1,
            output_json=json.dumps({"token": "tok-999", "ok": True}),
            seq=2,
        ),
    ]
    journal.create_run(run, tasks)
    shape = {f"t{XSS}": [], "big": [f"t{XSS}"], "secret": ["big"]}
    journal.record_shape("dag", run.workflow_name, "v1", "d1", json.dumps(shape))
    journal.write(
        Batch(
            events=[
                EventRecord(run.run_id, "task_started", run.created_at, f"t{XSS}", None),
                EventRecord(run.run_id, "task_retry", run.created_at + 0.1, f"t{XSS}", None),
                EventRecord(run.run_id, "task_started", run.created_at + 0.5, f"t{XSS}", None),
                EventRecord(run.run_id, "task_failed", run.created_at + 0.6, f"t{XSS}", None),
            ]
        )
    )
    for i in range(60):
        other = RunRecord(
            f"r-{i:03d}",
            "plain",
            "v1",
            ("dag", "flow", "steps")[i % 3],
            "Completed" if i % 2 else "Running",
            "{}",
            1000.0 + i,
        )
        journal.create_run(other, [])
    return run.run_id


@pytest.fixture
def journal(db_url: str) -> Iterator[Journal]:
    opened = open_journal(db_url)
    _hostile_run(opened)
    yield opened
    opened.close()


def client_for(journal: Journal, **config: object) -> TestClient:
    app = create_app(journal, UiConfig(journal.url, **config))  # type: ignore[arg-type]
    return TestClient(app, base_url=BASE, follow_redirects=False)


def csrf_of(client: TestClient) -> str:
    token: str = client.get("/api/session").json()["csrf_token"]
    return token


def test_pages_show_hostile_names_errors_and_outputs_as_text(journal: Journal) -> None:
    client = client_for(journal)
    for path in ("/runs", "/runs/r-hostile", "/workflows", "/workflows?name=wf" + XSS):
        page = client.get(path)
        assert page.status_code == 200, path
        assert XSS not in page.text, path
        assert "&lt;script&gt;alert(" in page.text, path
    # No script of ours is inline: the policy forbids it, and the header says so.
    page = client.get("/runs/r-hostile")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"<script>(?!alert)", page.text)
    # The API returns data; JSON is not HTML, and the browser is told not to sniff it.
    task = client.get("/api/runs/r-hostile/task", params={"key": f"t{XSS}"})
    assert task.json()["error"] == f"ValueError: {XSS}"
    assert task.headers["content-type"].startswith("application/json")
    assert task.headers["x-content-type-options"] == "nosniff"


def test_secret_looking_keys_are_masked_in_pages_and_api(journal: Journal) -> None:
    client = client_for(journal)
    run = client.get("/api/runs/r-hostile").json()
    assert run["input"]["password"] == "***"
    assert run["input"]["nested"] == {"api_key": "***", "keep": 1}
    page = client.get("/runs/r-hostile").text
    assert "hunter2" not in page and "k-123" not in page
    secret = client.get("/api/runs/r-hostile/task", params={"key": "secret"}).json()
    assert "tok-999" not in secret["output"] and '"ok": true' in secret["output"]


def test_runs_api_filters_counts_pages_and_live_token(journal: Journal) -> None:
    client = client_for(journal)
    first = client.get("/api/runs", params={"limit": 25}).json()
    assert first["runs"][0]["run_id"] == "r-hostile"
    assert first["total"] == 61
    # Running runs nothing executes (no live owner) are flagged.
    running = [r for r in first["runs"] if r["status"] == "Running"]
    assert running and all("no owner" in r["orphaned"] for r in running)
    assert all(r["orphaned"] is None for r in first["runs"] if r["status"] != "Running")
    assert "no runner" in client.get("/runs").text
    assert first["counts"]["Running"] == 30 and first["counts"]["Failed"] == 1
    seen = [r["run_id"] for r in first["runs"]]
    cursor = first["next"]
    while cursor:
        page = client.get("/api/runs", params={"limit": 25, "after": cursor}).json()
        seen += [r["run_id"] for r in page["runs"]]
        cursor = page["next"]
    assert len(seen) == len(set(seen)) == 61
    steps = client.get("/api/runs", params={"style": "steps", "status": "running"}).json()
    assert {r["style"] for r in steps["runs"]} == {"steps"}
    assert {r["status"] for r in steps["runs"]} == {"Running"}
    assert [r["run_id"] for r in client.get("/api/runs?run=r-05").json()["runs"]] == [
        f"r-05{i}" for i in range(9, -1, -1)
    ]
    window = client.get(
        "/api/runs", params={"from": "1970-01-01T00:16:50", "to": "1970-01-01T00:16:55"}
    )
    assert [r["run_id"] for r in window.json()["runs"]] == [
        "r-014",
        "r-013",
        "r-012",
        "r-011",
        "r-010",
    ]
    # Nothing changed since the event id it returned: the cheap answer.
    event_id = first["event_id"]
    assert client.get("/api/runs", params={"since": event_id}).json() == {
        "changed": False,
        "event_id": event_id,
    }
    journal.write(Batch(events=[EventRecord("r-000", "x", time.time())]))
    assert client.get("/api/runs", params={"since": event_id}).json()["changed"] is True


def test_bad_parameters_get_a_clear_400(journal: Journal) -> None:
    client = client_for(journal)
    bad = client.get("/api/runs", params={"status": "done"})
    assert bad.status_code == 400 and "Running, Completed" in bad.json()["error"]
    assert "ISO 8601" in client.get("/api/runs", params={"from": "yesterday"}).json()["error"]
    assert client.get("/api/runs", params={"limit": "0"}).status_code == 400
    assert "style" in client.get("/runs", params={"style": "cron"}).text
    assert client.get("/api/runs/nope").status_code == 404
    assert client.get("/runs/nope").status_code == 404


def test_run_api_graph_timeline_and_truncated_output(journal: Journal) -> None:
    client = client_for(journal)
    big = client.get("/api/runs/r-hostile/task", params={"key": "big"}).json()
    assert big["output_truncated"] and len(big["output"]) == 2000 and big["output_size"] == 5000
    full = client.get("/api/runs/r-hostile/task", params={"key": "big", "full": "1"}).json()
    assert not full["output_truncated"] and len(full["output"]) == 5000
    timeline = client.get("/api/runs/r-hostile/timeline").json()
    bars = timeline["rows"][0]["bars"]
    assert [b["kind"] for b in bars] == ["attempt", "retry wait", "attempt"]
    assert bars[0]["outcome"] == "failed, retrying" and bars[2]["outcome"] == "failed"
    live = client.get("/api/runs/r-hostile/live").json()
    assert sorted(live["nodes"].values()) == ["Completed", "Completed", "Failed"]
    svg = client.get("/runs/r-hostile/graph").text
    assert svg.count('class="edge"') == 2 and XSS not in svg


def test_host_header_must_be_loopback_without_a_token(journal: Journal) -> None:
    client = client_for(journal)
    rebound = client.get("/runs", headers={"host": "evil.example:8787"})
    assert rebound.status_code == 400
    assert client.get("/runs", headers={"host": "localhost:8787"}).status_code == 200


def test_binding_beyond_loopback_needs_a_token(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(BindError, match="needs a token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(BindError, match="at least 8"):
        check_bind("0.0.0.0", "short")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "a-long-token")
    open_journal(db_url).close()
    assert main(["ui", "--db", db_url, "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "TASKLOOM_UI_TOKEN" in capsys.readouterr().err


def test_token_login_sets_an_httponly_cookie(journal: Journal) -> None:
    client = client_for(journal, token="s3cret-token-123")
    page = client.get("/runs/r-hostile")
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    assert client.get("/api/runs").status_code == 401
    assert client.get("/static/app.css").status_code == 200
    headers = {"authorization": "Bearer s3cret-token-123"}
    assert client.get("/api/runs", headers=headers).status_code == 200
    assert client.get("/api/runs", headers={"authorization": "Bearer wrong"}).status_code == 401
    wrong = client.post("/login", data={"token": "nope", "next": "/runs"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    good = client.post("/login", data={"token": "s3cret-token-123", "next": "/runs/r-hostile"})
    assert good.status_code == 303 and good.headers["location"] == "/runs/r-hostile"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "s3cret-token-123" not in cookie
    assert client.get("/runs/r-hostile").status_code == 200  # the cookie is sent back
    # An open redirect is not possible through next=.
    again = client.post("/login", data={"token": "s3cret-token-123", "next": "//evil.example"})
    assert again.headers["location"] == "/"


def test_actions_need_the_csrf_token_and_a_same_origin(journal: Journal) -> None:
    client = client_for(journal)
    assert client.post("/api/runs/r-000/cancel", json={}).status_code == 403
    csrf = csrf_of(client)
    headers = {"x-csrf-token": csrf, "origin": "http://evil.example"}
    assert client.post("/api/runs/r-000/cancel", json={}, headers=headers).status_code == 403
    wrong = client.post("/api/runs/r-000/cancel", json={}, headers={"x-csrf-token": "x" * 43})
    assert wrong.status_code == 403
    form = client.post("/runs/r-000/action/cancel", data={"csrf": "nope"})
    assert form.status_code == 403
    # With the token and no foreign origin, the action goes through: r-000 has no
    # live owner, so taskloom.cancel_run records its cancel directly.
    ok = client.post(
        "/api/runs/r-000/cancel", json={}, headers={"x-csrf-token": csrf, "origin": BASE}
    )
    assert ok.json() == {"cancelled": True}
    assert client.get("/api/runs/r-000").json()["status"] == "Cancelled"
    again = client.post("/runs/r-000/action/cancel", data={"csrf": csrf})
    assert again.status_code == 303 and "already+ended" in again.headers["location"]


def test_read_only_turns_actions_off(journal: Journal) -> None:
    client = client_for(journal, read_only=True)
    csrf = csrf_of(client)
    refused = client.post("/api/runs/r-000/cancel", json={}, headers={"x-csrf-token": csrf})
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    page = client.get("/runs/r-000").text
    assert 'id="cancel"' not in page and "read-only" in page


def test_a_fan_out_of_10000_calls_is_drawn_as_one_node() -> None:
    keys = ["fetch#0", "square_all", *[f"square_all[{i}]" for i in range(10_000)], "total#0"]
    tasks = [
        TaskRecord("r", k, "Completed" if i % 3 else "Running", seq=i) for i, k in enumerate(keys)
    ]
    graph = (["fetch#0", "square_all", "total#0"], [[], [0], [1]])
    drawing = draw("flow", tasks, graph)
    labels = [n.label for n in drawing.nodes]
    assert labels == ["fetch#0", "square_all[…] \u00d710000", "square_all", "total#0"]
    group = drawing.nodes[1]
    assert group.status == "Running" and sum(group.counts.values()) == 10_000
    assert len(drawing.edges) == 3


def test_wide_dags_collapse_by_name_then_by_layer() -> None:
    keys = ["start", *[f"part_{i}" for i in range(500)], *[f"check-{i}" for i in range(300)], "end"]
    deps = [[], *[[0]] * 500, *[[1 + i] for i in range(300)], list(range(501, 801))]
    tasks = [TaskRecord("r", k, "Pending", seq=i) for i, k in enumerate(keys)]
    drawing = draw("dag", tasks, (keys, deps))
    labels = [n.label for n in drawing.nodes]
    assert len(labels) <= 120
    assert "start" in labels and "end" in labels
    assert any(label.startswith("part \u00d7") for label in labels)
    assert sum(len(n.members) for n in drawing.nodes) == len(keys)


def test_start_a_workflow_of_the_app_and_send_an_event(tmp_path: Path, db_url: str) -> None:
    app = tmp_path / "dash_app_mod.py"
    app.write_text(
        "import taskloom as cloaca\n"
        "from taskloom import flow, task\n"
        "from taskloom.steps import Context, Directive, Workflow\n"
        "with cloaca.WorkflowBuilder('hello') as b:\n"
        "    @cloaca.task(id='greet')\n"
        "    def greet(ctx):\n"
        "        ctx.set('greeting', 'hi ' + ctx.get('name'))\n"
        "        return ctx\n"
        "approval = Workflow(workflow_type='Approval')\n"
        "@approval.start()\n"
        "async def start(ctx: Context, order: str) -> Directive:\n"
        "    return ctx.next.wait()\n"
        "@task\n"
        "def add(a: int, b: int) -> int:\n"
        "    return a + b\n"
        "@flow\n"
        "def adder(a: int, b: int) -> int:\n"
        "    return add(a, b)\n"
        "@approval.event('approve')\n"
        "async def approve(ctx: Context, by: str) -> Directive:\n"
        "    return ctx.next.complete({'by': by})\n"
    )
    open_journal(db_url).close()
    with running(db_url, port=0, apps=(str(app),)) as (url, _server):
        client = httpx.Client(base_url=url, timeout=10, follow_redirects=True)
        csrf = client.get("/api/session").json()["csrf_token"]
        headers = {"x-csrf-token": csrf}
        page = client.get("/workflows").text
        assert 'value="hello"' in page and 'value="Approval"' in page
        started = client.post(
            "/api/start",
            json={"style": "dag", "name": "hello", "input": {"name": "ann"}},
            headers=headers,
        ).json()
        run_id = started["run_id"]
        deadline = time.monotonic() + 30
        while client.get(f"/api/runs/{run_id}").json()["status"] == "Running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.get(f"/api/runs/{run_id}").json()["result"]["greeting"] == "hi ann"
        flow_run = client.post(
            "/api/start",
            json={"style": "flow", "name": "adder", "input": {"a": 2, "b": 3}},
            headers=headers,
        ).json()["run_id"]
        deadline = time.monotonic() + 30
        while client.get(f"/api/runs/{flow_run}").json()["status"] == "Running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.get(f"/api/runs/{flow_run}").json()["result"] == 5
        wrong = client.post(
            "/api/start",
            json={"style": "flow", "name": "adder", "input": {"c": 1}},
            headers=headers,
        )
        assert wrong.status_code == 400 and "adder" in wrong.json()["error"]
        bad = client.post("/api/start", json={"style": "dag", "name": "nope"}, headers=headers)
        assert bad.status_code == 400 and "--app" in bad.json()["error"]
        # A step run waiting for an event, started by the form (as a user would).
        form = client.post(
            "/start",
            data={"csrf": csrf, "style": "steps", "name": "Approval", "input": '{"order": "o-1"}'},
        )
        step_id = form.url.path.rsplit("/", 1)[1]
        assert form.status_code == 200 and "Send event" in form.text
        not_steps = client.post(
            f"/api/runs/{run_id}/events", json={"name": "approve"}, headers=headers
        )
        assert not_steps.status_code == 400 and "only step runs" in not_steps.json()["error"]
        sent = client.post(
            f"/api/runs/{step_id}/events",
            json={"name": "approve", "payload": {"by": "bo"}},
            headers=headers,
        )
        assert sent.json() == {"sent": "approve"}
        deadline = time.monotonic() + 30
        while client.get(f"/api/runs/{step_id}").json()["status"] == "Running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.get(f"/api/runs/{step_id}").json()["result"] == {"by": "bo"}
        events = client.get(f"/api/runs/{step_id}/events").json()
        assert [s["name"] for s in events["signals"]] == ["approve"]
        late = client.post(f"/api/runs/{step_id}/events", json={"name": "approve"}, headers=headers)
        assert late.status_code == 400 and "finished" in late.json()["error"]


def test_parent_and_child_step_runs_link_to_each_other(db_url: str) -> None:
    from taskloom.steps import Client, Context, Directive, Workflow

    child = Workflow(workflow_type="UiChild")
    parent = Workflow(workflow_type="UiParent")

    @child.start()
    async def child_start(ctx: Context, n: int) -> Directive:
        return ctx.next.complete(n * 2)

    @parent.start()
    async def parent_start(ctx: Context) -> Directive:
        doubled = await ctx.run_child(child, input={"n": 21})
        return ctx.next.complete(doubled)

    assert Client(db_url).run_workflow("UiParent", "parent-1", None) == 42
    journal = open_journal(db_url)
    try:
        client = client_for(journal)
        children = client.get("/api/runs/parent-1").json()["children"]
        assert len(children) == 1 and children[0]["status"] == "Completed"
        child_id = children[0]["run_id"]
        assert client.get(f"/api/runs/{child_id}").json()["parent"] == "parent-1"
        assert f'href="/runs/{child_id}"' in client.get("/runs/parent-1").text
        assert 'id="parent-link"' in client.get(f"/runs/{child_id}").text
        # The parent's graph: its step, with the child operation beside it.
        svg = client.get("/runs/parent-1/graph").text
        assert "0: parent_start" in svg and "__child__" in svg
    finally:
        journal.close()


def test_the_command_prints_its_url_and_enforces_its_token(db_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    open_journal(db_url).close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskloom",
            "ui",
            "--db",
            db_url,
            "--port",
            "0",
            "--token",
            "t0k3n-for-test",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "taskloom ui: serving" in line
        url = line[line.index("http://127.0.0.1:") :].split()[0]
        assert httpx.get(url + "api/runs").status_code == 401
        page = httpx.get(url + "runs")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        ok = httpx.get(url + "api/runs", headers={"authorization": "Bearer t0k3n-for-test"})
        assert ok.status_code == 200 and ok.json()["total"] == 0
        # What a worker would see: the dashboard's own process is no runner (no --app).
        workers = httpx.get(
            url + "api/workers", headers={"authorization": "Bearer t0k3n-for-test"}
        ).json()
        assert workers == {"runners": [], "claims": []}
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_every_page_reads_a_journal_opened_read_only(db_url: str) -> None:
    writer = open_journal(db_url)
    _hostile_run(writer)
    writer.close()
    journal = open_journal(db_url, read_only=True)
    try:
        client = client_for(journal, read_only=True)
        for path in (
            "/runs",
            "/runs?status=Running",
            "/runs/r-hostile",
            "/runs/r-hostile/graph",
            "/workflows",
            "/workflows?name=plain",
            "/workers",
            "/api/runs",
            "/api/workflows",
            "/api/workers",
            "/api/runs/r-hostile",
            "/api/runs/r-hostile/tasks",
            "/api/runs/r-hostile/events",
            "/api/runs/r-hostile/timeline",
            "/api/runs/r-hostile/live",
        ):
            assert client.get(path).status_code == 200, path
    finally:
        journal.close()
