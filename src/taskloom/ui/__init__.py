"""The web dashboard: ``taskloom ui`` (needs ``pip install 'taskloom[ui]'``).

Server-rendered pages and a small JSON API over the journal interface:
runs (filtered, counted, paged by keyset, live), each run's graph, timeline
and tasks, workflows, workers, and the actions cancel, retry, start and
send an event. ``import taskloom`` never imports this package, so the
core stays free of the dashboard's dependencies (Starlette, uvicorn, Jinja2).

Embedding it (tests, a program of your own)::

    from taskloom.ui.server import running

    with running("sqlite:///app.db", port=0) as (url, server):
        ...  # the dashboard answers at url until the block ends
"""

from __future__ import annotations

__all__ = ["create_app", "running", "serve"]


def __getattr__(name: str) -> object:
    # Lazy, so importing taskloom.ui.security (for example) needs no server stack.
    if name == "create_app":
        from taskloom.ui.app import create_app

        return create_app
    if name in ("running", "serve"):
        from taskloom.ui import server

        return getattr(server, name)
    raise AttributeError(f"module 'taskloom.ui' has no attribute {name!r}")
