"""The dashboard's ASGI application: routes, shared state, the middleware.

Why Starlette (with uvicorn and Jinja2): the dashboard is a handful of
server-rendered pages and a small JSON API. Starlette gives routing,
requests, responses, static files and a test client in a small,
well-kept package with no framework on top; uvicorn serves it and starts
in a fraction of a second; Jinja2 escapes every value it renders by
default, which is what keeps workflow names, task ids, errors and outputs
holding HTML or script inert. Journal reads are blocking calls, so the
handlers are plain functions that Starlette runs in its thread pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from taskloom.journal.base import Journal
from taskloom.ui.actions import Actions
from taskloom.ui.data import Browser
from taskloom.ui.security import Guard, Security


@dataclass
class UiConfig:
    """How one dashboard process was started."""

    url: str
    token: str | None = None
    read_only: bool = False
    #: Modules imported with ``--app`` (their workflows can be started).
    apps: tuple[str, ...] = ()
    #: Whether the server listens on a loopback address (then Host headers are checked).
    loopback: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class Dashboard:
    """Everything a request handler needs."""

    def __init__(self, journal: Journal, config: UiConfig) -> None:
        self.journal = journal
        self.config = config
        self.security = Security(config.token)
        self.browser = Browser(journal)
        self.actions = Actions(config.url, journal, config.apps, config.read_only)
        self.templates = Environment(
            loader=PackageLoader("taskloom.ui", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def close(self) -> None:
        self.actions.close()


def create_app(journal: Journal, config: UiConfig) -> Starlette:
    """The dashboard over ``journal`` (which the caller keeps open and closes)."""
    from taskloom.ui import api, pages

    dashboard = Dashboard(journal, config)
    routes = [
        Route("/", pages.home),
        Route("/runs", pages.runs_page),
        Route("/runs/{run_id:path}/graph", pages.graph_fragment),
        Route("/runs/{run_id:path}/action/{action}", pages.run_action, methods=["POST"]),
        Route("/runs/{run_id:path}", pages.run_page),
        Route("/workflows", pages.workflows_page),
        Route("/workers", pages.workers_page),
        Route("/schedules", pages.schedules_page),
        Route("/schedules/{schedule_id}/action/{action}", pages.schedule_action, methods=["POST"]),
        Route("/start", pages.start_action, methods=["POST"]),
        Route("/login", pages.login, methods=["GET", "POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/api", api.index),
        Route("/api/session", api.session),
        Route("/api/runs", api.runs),
        Route("/api/workflows", api.workflows),
        Route("/api/workers", api.workers),
        Route("/api/schedules", api.schedules),
        Route("/api/schedules/{schedule_id}/pause", api.pause_schedule, methods=["POST"]),
        Route("/api/schedules/{schedule_id}/resume", api.resume_schedule, methods=["POST"]),
        Route("/api/start", api.start, methods=["POST"]),
        Route("/api/runs/{run_id:path}/tasks", api.tasks),
        Route("/api/runs/{run_id:path}/task", api.task),
        Route("/api/runs/{run_id:path}/events", api.events, methods=["GET", "POST"]),
        Route("/api/runs/{run_id:path}/timeline", api.timeline),
        Route("/api/runs/{run_id:path}/live", api.live),
        Route("/api/runs/{run_id:path}/cancel", api.cancel, methods=["POST"]),
        Route("/api/runs/{run_id:path}/retry", api.retry, methods=["POST"]),
        Route("/api/runs/{run_id:path}", api.run),
        Mount("/static", StaticFiles(packages=[("taskloom.ui", "static")]), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.dashboard = dashboard
    app.add_middleware(Guard, security=dashboard.security, loopback_only=config.loopback)
    return app
