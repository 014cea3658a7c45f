"""The JSON API under ``/api/`` that the pages use and other tools may read.

Documented in ``docs/ui.md`` and listed by ``GET /api``. Reads answer
``200`` with JSON; a bad parameter ``400`` with ``{"error": ...}`` naming
it; an unknown run ``404``. Actions are POSTs with a JSON body and the
CSRF token in ``X-CSRF-Token`` (from ``GET /api/session``), or
``Authorization: Bearer TOKEN`` when the dashboard has a token.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from taskloom.journal.records import RunStatus
from taskloom.ui import present
from taskloom.ui import timeline as timeline_module
from taskloom.ui.actions import ActionError
from taskloom.ui.data import BadRequest, parse_query
from taskloom.ui.pages import dashboard_of

ENDPOINTS = {
    "GET /api/runs": "runs newest first; filters workflow, version, status, style, run (id "
    "prefix), from, to (ISO 8601); limit (50), after (the 'next' cursor); since (an "
    "event_id: answers {changed: false} when nothing changed)",
    "GET /api/runs/{id}": "one run: status, timing, input, result, parent and children",
    "GET /api/runs/{id}/tasks": "its tasks: status, attempts, timing, error",
    "GET /api/runs/{id}/task?key=K[&full=1]": "one task with output (truncated unless full=1) "
    "and traceback",
    "GET /api/runs/{id}/events": "its event log, and its signals (step runs)",
    "GET /api/runs/{id}/timeline": "its attempts and waits as bars",
    "GET /api/runs/{id}/live?since=E": "the graph nodes' states when the run changed since E",
    "GET /api/workflows": "workflow names and versions with counts and success rates",
    "GET /api/workers": "runner processes and workers, and the tasks workers hold",
    "GET /api/schedules": "cron and trigger schedules: workflow, cron expression and timezone "
    "or poll interval, enabled, next fire, and their last runs with statuses",
    "GET /api/session": "the CSRF token actions need, and whether actions are enabled",
    "POST /api/runs/{id}/cancel": "cancel a run",
    "POST /api/runs/{id}/retry": "retry a failed or cancelled run",
    "POST /api/runs/{id}/events": "send {name, payload} to a waiting step run",
    "POST /api/schedules/{id}/pause": "pause a schedule (as set_cron_schedule_enabled(id, False) "
    "or set_trigger_enabled(name, False))",
    "POST /api/schedules/{id}/resume": "resume a schedule from its next due time after now",
    "POST /api/start": "start {style, name, input} of a workflow imported with --app",
}


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def index(request: Request) -> Response:
    return JSONResponse({"endpoints": ENDPOINTS})


def session(request: Request) -> Response:
    board = dashboard_of(request)
    return JSONResponse(
        {"csrf_token": board.security.csrf_token, "read_only": board.config.read_only}
    )


def runs(request: Request) -> Response:
    board = dashboard_of(request)
    try:
        query = parse_query({k: v for k, v in request.query_params.items() if k != "since"})
    except BadRequest as exc:
        return _error(str(exc), 400)
    since = request.query_params.get("since")
    unchanged = since is not None and since.isdigit() and int(since) > 0
    if unchanged and board.journal.latest_event_id() == int(since or 0):
        return JSONResponse({"changed": False, "event_id": int(since or 0)})
    page = board.browser.runs(query)
    page.pop("records")
    return JSONResponse({"changed": True, **page})


def run(request: Request) -> Response:
    board = dashboard_of(request)
    record = board.journal.get_run(request.path_params["run_id"])
    if record is None:
        return _error("no such run", 404)
    tasks = board.journal.get_tasks(record.run_id)
    relations = board.browser.relations(record, tasks)
    doc = present.run_document(record)
    doc["parent"] = relations["parent"]
    doc["children"] = [present.run_summary(c) for c in relations["children"]]
    doc["tasks"] = len(tasks)
    return JSONResponse(doc)


def tasks(request: Request) -> Response:
    board = dashboard_of(request)
    run_id = request.path_params["run_id"]
    if board.journal.get_run(run_id) is None:
        return _error("no such run", 404)
    return JSONResponse([present.task_summary(t) for t in board.journal.get_tasks(run_id)])


def task(request: Request) -> Response:
    board = dashboard_of(request)
    key = request.query_params.get("key")
    if not key:
        return _error("key: give the task's key, e.g. ?key=extract", 400)
    found = [t for t in board.journal.get_tasks(request.path_params["run_id"]) if t.task_key == key]
    if not found:
        return _error(f"no task {key!r} in this run", 404)
    return JSONResponse(present.task_document(found[0], request.query_params.get("full") == "1"))


async def events(request: Request) -> Response:
    board = dashboard_of(request)
    run_id = request.path_params["run_id"]
    if request.method == "POST":
        return await _act(request, "event")
    record = await run_in_threadpool(board.journal.get_run, run_id)
    if record is None:
        return _error("no such run", 404)
    found = await run_in_threadpool(board.journal.get_events, run_id)
    signals = (
        await run_in_threadpool(board.journal.get_signals, run_id) if record.kind == "steps" else []
    )
    return JSONResponse(
        {
            "events": [present.event_document(e) for e in found],
            "signals": [present.signal_document(s) for s in signals],
        }
    )


def timeline(request: Request) -> Response:
    board = dashboard_of(request)
    run_id = request.path_params["run_id"]
    record = board.journal.get_run(run_id)
    if record is None:
        return _error("no such run", 404)
    found = board.journal.get_events(run_id)
    ended = record.status in RunStatus.TERMINAL and record.ended_at is not None
    now = record.ended_at if ended and record.ended_at is not None else time.time()
    return JSONResponse(timeline_module.layout(found, now))


def live(request: Request) -> Response:
    board = dashboard_of(request)
    since = request.query_params.get("since", "0")
    state = board.browser.live(request.path_params["run_id"], int(since) if since.isdigit() else 0)
    if state is None:
        return _error("no such run", 404)
    return JSONResponse(state)


def workflows(request: Request) -> Response:
    board = dashboard_of(request)
    return JSONResponse(
        [
            {
                "name": s.name,
                "version": s.version,
                "style": s.kind,
                "runs": s.runs,
                "completed": s.completed,
                "failed": s.failed,
                "running": s.running,
                "success_rate": s.success_rate,
                "last_run_at": present.iso(s.last_created_at),
            }
            for s in board.journal.workflow_stats()
        ]
    )


def workers(request: Request) -> Response:
    board = dashboard_of(request)
    now = time.time()
    return JSONResponse(
        {
            "runners": [
                {
                    "id": r.runner_id,
                    "hostname": r.hostname,
                    "pid": r.pid,
                    "started_at": present.iso(r.started_at),
                    "heartbeat_at": present.iso(r.heartbeat_at),
                    "heartbeat_age": max(0.0, now - r.heartbeat_at),
                }
                for r in board.journal.list_runners()
            ],
            "claims": [
                {
                    "worker": c.worker_id,
                    "run_id": c.run_id,
                    "task": c.task_key,
                    "lease_until": present.iso(c.lease_until),
                    "started_at": present.iso(c.started_at),
                }
                for c in board.journal.list_claims()
            ],
        }
    )


def schedules(request: Request) -> Response:
    from taskloom.ui.schedules import schedule_documents

    board = dashboard_of(request)
    return JSONResponse({"schedules": schedule_documents(board.journal)})


async def _act(request: Request, action: str) -> Response:
    board = dashboard_of(request)
    if not board.security.csrf_ok(request, None):
        return _error("forbidden: missing or wrong X-CSRF-Token (see GET /api/session)", 403)
    if board.config.read_only:
        return _error("forbidden: the dashboard is read-only (--read-only)", 403)
    try:
        body: Any = json.loads(await request.body() or b"{}")
    except ValueError:
        return _error("the body is not JSON", 400)
    if not isinstance(body, dict):
        return _error("the body must be a JSON object", 400)
    run_id = request.path_params.get("run_id", "")
    try:
        if action == "cancel":
            done = await run_in_threadpool(board.actions.cancel, run_id)
            return JSONResponse({"cancelled": done})
        if action == "retry":
            await run_in_threadpool(board.actions.retry, run_id)
            return JSONResponse({"retried": run_id})
        if action in ("pause", "resume"):
            schedule_id = request.path_params["schedule_id"]
            enabled = action == "resume"
            await run_in_threadpool(board.actions.set_schedule_enabled, schedule_id, enabled)
            return JSONResponse({"id": schedule_id, "enabled": enabled})
        if action == "event":
            name = str(body.get("name") or "")
            await run_in_threadpool(board.actions.send_event, run_id, name, body.get("payload"))
            return JSONResponse({"sent": name})
        run_id = await run_in_threadpool(
            board.actions.start, str(body.get("style")), str(body.get("name")), body.get("input")
        )
        return JSONResponse({"run_id": run_id})
    except ActionError as exc:
        return _error(str(exc), 400)


async def cancel(request: Request) -> Response:
    return await _act(request, "cancel")


async def retry(request: Request) -> Response:
    return await _act(request, "retry")


async def start(request: Request) -> Response:
    return await _act(request, "start")


async def pause_schedule(request: Request) -> Response:
    return await _act(request, "pause")


async def resume_schedule(request: Request) -> Response:
    return await _act(request, "resume")
