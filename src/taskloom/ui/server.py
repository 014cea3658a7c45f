"""Serve the dashboard: check where it may listen, open the journal, run uvicorn.

The socket is bound here, before uvicorn starts, so the URL printed is
the one that works (``--port 0`` picks a free port) and a port already in
use is reported as such, at once.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskloom.ui.security import TOKEN_ENV, check_bind, is_loopback


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    return f"http://{shown}:{port}/"


@contextmanager
def running(
    db: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    token: str | None = None,
    read_only: bool = False,
    apps: tuple[str, ...] = (),
    log_level: str = "warning",
) -> Iterator[tuple[str, Any]]:
    """Start the dashboard in a thread; yields ``(url, server)``; stops it on exit.

    What ``taskloom ui`` does in the foreground, for tests and embedding.
    """
    server, sock, journal, app_url = _prepare(db, host, port, token, read_only, apps, log_level)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.01)
        yield app_url, server
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        server.config.app.state.dashboard.close()
        journal.close()


def serve(
    db: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    token: str | None = None,
    read_only: bool = False,
    apps: tuple[str, ...] = (),
    log_level: str = "warning",
) -> None:
    """Run the dashboard in the foreground until Ctrl-C / SIGTERM."""
    server, sock, journal, app_url = _prepare(db, host, port, token, read_only, apps, log_level)
    from taskloom.journal.urls import redact_url

    suffix = " (read-only)" if read_only else ""
    print(f"taskloom ui: serving {redact_url(journal.url)} at {app_url}{suffix}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        server.config.app.state.dashboard.close()
        journal.close()


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, stopping on SIGINT/SIGTERM without re-raising the signal.

        uvicorn re-raises a captured signal after its shutdown, which would end
        the process before the journal is closed and the runner of ``--app``
        has unregistered; here the command returns normally instead (exit 0).
        """

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def _prepare(
    db: str | None,
    host: str,
    port: int,
    token: str | None,
    read_only: bool,
    apps: tuple[str, ...],
    log_level: str,
) -> tuple[Any, socket.socket, Any, str]:
    import uvicorn

    from taskloom.journal.urls import open_journal, resolve_url

    _Server = _server_class()
    from taskloom.ui.app import UiConfig, create_app

    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    check_bind(host, token)
    url = resolve_url(db)
    journal = open_journal(url, read_only=read_only)
    try:
        for module in apps:
            from taskloom.cli.targets import import_workflows

            import_workflows(module)
        config = UiConfig(url, token, read_only, apps, loopback=is_loopback(host))
        app = create_app(journal, config)
        sock = bind(host, port)
    except BaseException:
        journal.close()
        raise
    server = _Server(uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off"))
    return server, sock, journal, url_of(sock, host)
