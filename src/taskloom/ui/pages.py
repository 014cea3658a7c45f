"""The HTML pages: runs, a run, workflows, workers, schedules, login; and the form actions.

Every value reaches the page through a Jinja2 template with autoescaping
on; the pages' script (``static/app.js``) writes text with ``textContent``
only. Actions are ordinary form POSTs carrying the CSRF token, answered by
a redirect back to the page with a message, so they work without script.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from taskloom.journal.browse import RunFilter
from taskloom.journal.records import RunStatus, TaskStatus
from taskloom.journal.urls import redact_url
from taskloom.ui import present
from taskloom.ui.actions import ActionError
from taskloom.ui.app import Dashboard
from taskloom.ui.data import STATUSES, STYLES, BadRequest, parse_query
from taskloom.ui.security import safe_next

#: Task rows listed on a run page (the rest: filter by status, or the API).
TASK_ROWS = 500


def dashboard_of(request: Request) -> Dashboard:
    board: Dashboard = request.app.state.dashboard
    return board


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    board = dashboard_of(request)
    template = board.templates.get_template(name)
    base = {
        "csrf": board.security.csrf_token,
        "read_only": board.config.read_only,
        "login_enabled": board.security.token is not None,
        "db": redact_url(board.config.url),
        "message": request.query_params.get("msg"),
        "error_message": request.query_params.get("err"),
        "p": present,
        "path": request.url.path,
    }
    return HTMLResponse(template.render(**base, **context), status_code)


def home(request: Request) -> Response:
    return RedirectResponse("/runs", 303)


def runs_page(request: Request) -> Response:
    board = dashboard_of(request)
    try:
        query = parse_query(request.query_params)
    except BadRequest as exc:
        return render(request, "error.html", 400, error=str(exc))
    page = board.browser.runs(query)
    workflows = board.journal.workflow_names()
    fragment = request.query_params.get("fragment") == "1"
    next_link = None
    if page["next"]:
        next_link = "/runs?" + urlencode({**query.params, "after": page["next"]})
    return render(
        request,
        "runs_rows.html" if fragment else "runs.html",
        page=page,
        query=query,
        statuses=STATUSES,
        styles=STYLES,
        workflows=workflows,
        next_link=next_link,
        first_page=query.after is None,
        status_link=lambda s: "/runs?" + urlencode({**query.params, "status": s}),
        all_link="/runs?" + urlencode({k: v for k, v in query.params.items() if k != "status"}),
        live_query=urlencode(query.params),
    )


def run_page(request: Request) -> Response:
    board = dashboard_of(request)
    run_id = request.path_params["run_id"]
    run = board.journal.get_run(run_id)
    if run is None:
        return render(request, "error.html", 404, error=f"no run {run_id!r} in this journal")
    tasks = board.journal.get_tasks(run_id)
    drawing = board.browser.drawing(run, tasks)
    show = request.query_params.get("tasks")
    listed = [t for t in tasks if show is None or t.status == show]
    if run.kind == "steps":
        listed = [t for t in listed if t.task_key != "workflow"]
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    relations = board.browser.relations(run, tasks)
    signals = board.journal.get_signals(run_id) if run.kind == "steps" else []
    return render(
        request,
        "run.html",
        run=run,
        doc=present.run_document(run),
        drawing=drawing,
        tasks=listed[:TASK_ROWS],
        task_total=len(listed),
        task_counts=counts,
        task_statuses=[s for s in vars(TaskStatus).values() if isinstance(s, str) and s.istitle()],
        shown_status=show,
        relations=relations,
        signals=[present.signal_document(s) for s in signals],
        event_id=board.journal.latest_event_id(run_id),
        ended=run.status in RunStatus.TERMINAL,
        can_retry=run.status in (RunStatus.FAILED, RunStatus.CANCELLED),
        actions_enabled=not board.config.read_only,
        now=time.time(),
    )


def graph_fragment(request: Request) -> Response:
    board = dashboard_of(request)
    run = board.journal.get_run(request.path_params["run_id"])
    if run is None:
        return PlainTextResponse("no such run", 404)
    drawing = board.browser.drawing(run, board.journal.get_tasks(run.run_id))
    return render(request, "graph.html", drawing=drawing, run=run)


def workflows_page(request: Request) -> Response:
    board = dashboard_of(request)
    stats = board.journal.workflow_stats()
    name = request.query_params.get("name")
    version = request.query_params.get("version")
    chosen = next(
        (s for s in stats if s.name == name and (version is None or s.version == version)),
        None,
    )
    recent: list[Any] = []
    drawing = None
    if chosen is not None:
        versions = RunFilter(workflow=chosen.name, version=chosen.version)
        recent = board.journal.search_runs(versions, 20)
        if recent:
            latest = recent[0]
            drawing = board.browser.drawing(latest, board.journal.get_tasks(latest.run_id))
    return render(
        request,
        "workflows.html",
        stats=stats,
        chosen=chosen,
        recent=recent,
        drawing=drawing,
        startable=board.actions.startable(),
        actions_enabled=not board.config.read_only,
    )


def workers_page(request: Request) -> Response:
    board = dashboard_of(request)
    return render(
        request,
        "workers.html",
        runners=board.journal.list_runners(),
        claims=board.journal.list_claims(),
        distributed=board.actions.distributed,
        now=time.time(),
    )


def schedules_page(request: Request) -> Response:
    from taskloom.ui.schedules import schedule_documents, supported

    board = dashboard_of(request)
    return render(
        request,
        "schedules.html",
        schedules=schedule_documents(board.journal),
        supported=supported(board.journal),
        actions_enabled=not board.config.read_only,
    )


# -- actions -----------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _back(path: str, **message: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(message)}", 303)


async def run_action(request: Request) -> Response:
    board = dashboard_of(request)
    form = await _form(request)
    if not board.security.csrf_ok(request, form.get("csrf")):
        return PlainTextResponse("forbidden: missing or wrong CSRF token", 403)
    run_id = request.path_params["run_id"]
    back = f"/runs/{run_id}"
    if board.config.read_only:
        return PlainTextResponse("forbidden: the dashboard is read-only (--read-only)", 403)
    action = request.path_params["action"]
    try:
        if action == "cancel":
            done = await run_in_threadpool(board.actions.cancel, run_id)
            return _back(back, msg="cancelled" if done else "the run had already ended")
        if action == "retry":
            await run_in_threadpool(board.actions.retry, run_id)
            return _back(back, msg="retrying: a new attempt of its failed tasks")
        if action == "event":
            payload = json.loads(form.get("payload") or "null")
            await run_in_threadpool(board.actions.send_event, run_id, form.get("name", ""), payload)
            return _back(back, msg=f"event {form.get('name', '')!r} sent")
    except ValueError as exc:  # ActionError, and JSON that does not parse
        return _back(back, err=str(exc))
    return PlainTextResponse(f"unknown action {action!r}", 404)


async def schedule_action(request: Request) -> Response:
    board = dashboard_of(request)
    form = await _form(request)
    if not board.security.csrf_ok(request, form.get("csrf")):
        return PlainTextResponse("forbidden: missing or wrong CSRF token", 403)
    if board.config.read_only:
        return PlainTextResponse("forbidden: the dashboard is read-only (--read-only)", 403)
    action = request.path_params["action"]
    if action not in ("pause", "resume"):
        return PlainTextResponse(f"unknown action {action!r}", 404)
    schedule_id = request.path_params["schedule_id"]
    try:
        await run_in_threadpool(board.actions.set_schedule_enabled, schedule_id, action == "resume")
    except ActionError as exc:
        return _back("/schedules", err=str(exc))
    return _back("/schedules", msg=f"schedule {schedule_id} {action}d")


async def start_action(request: Request) -> Response:
    board = dashboard_of(request)
    form = await _form(request)
    if not board.security.csrf_ok(request, form.get("csrf")):
        return PlainTextResponse("forbidden: missing or wrong CSRF token", 403)
    if board.config.read_only:
        return PlainTextResponse("forbidden: the dashboard is read-only (--read-only)", 403)
    style, name = form.get("style", ""), form.get("name", "")
    try:
        data = json.loads(form.get("input") or "null")
        run_id = await run_in_threadpool(board.actions.start, style, name, data)
    except json.JSONDecodeError as exc:
        return _back("/workflows", err=f"input is not JSON: {exc.msg} at column {exc.colno}")
    except ActionError as exc:
        return _back("/workflows", err=str(exc))
    return RedirectResponse(f"/runs/{run_id}", 303)


async def login(request: Request) -> Response:
    board = dashboard_of(request)
    target = safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return render(request, "login.html", target=target, failed=False)
    form = await _form(request)
    if board.security.token is None:
        return RedirectResponse(target, 303)
    if not board.security.token_matches(form.get("token", "")):
        return render(request, "login.html", 401, target=target, failed=True)
    response = RedirectResponse(safe_next(form.get("next")), 303)
    board.security.login_cookie(response, secure=request.url.scheme == "https")
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/login", 303)
    response.delete_cookie("taskloom_ui_session", path="/")
    return response
