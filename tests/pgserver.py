"""Find or start the PostgreSQL server the PostgreSQL tests run against.

Order: ``$TASKLOOM_TEST_POSTGRES_URL``; a server on 127.0.0.1:5432 accepting
user ``postgres`` without a password; else a throwaway cluster made with
``initdb`` and ``pg_ctl`` on a free port (as the ``postgres`` user when we
are root, because PostgreSQL refuses to run as root), stopped at exit.
``TASKLOOM_TEST_POSTGRES=throwaway`` skips the first two, to exercise the
last path on a machine that has a server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "TASKLOOM_TEST_POSTGRES_URL"
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Server:
    """A reachable server: ``url`` names its maintenance database."""

    url: str
    stop_command: list[str] = field(default_factory=list)
    directory: str | None = None
    #: How to start it again after ``stop_command`` (throwaway clusters only).
    start_command: list[str] = field(default_factory=list)

    def database_url(self, name: str) -> str:
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

    def restart(self) -> None:
        """Stop (``-m fast``: every session is cut) and start the same cluster again."""
        if not self.start_command:
            raise RuntimeError(f"{self.url} is not a throwaway cluster: it cannot be restarted")
        subprocess.run(self.stop_command, check=True, capture_output=True, timeout=60)
        subprocess.run(self.start_command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        if self.stop_command:
            subprocess.run(self.stop_command, check=False, capture_output=True, timeout=60)
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def _reachable(url: str) -> str | None:
    """None if we can connect to ``url``, else why not."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


def find_server() -> tuple[Server | None, str]:
    """A server to test against, or None with the reasons none was found."""
    reasons: list[str] = []
    if os.environ.get("TASKLOOM_TEST_POSTGRES") == "throwaway":
        return _start_throwaway(), ""
    url = os.environ.get(ENV_URL)
    if url:
        problem = _reachable(url)
        if problem is None:
            return Server(url), ""
        reasons.append(f"${ENV_URL}={url!r}: {problem}")
    problem = _reachable(LOCAL_URL)
    if problem is None:
        return Server(LOCAL_URL), ""
    reasons.append(f"{LOCAL_URL}: {problem}")
    try:
        return _start_throwaway(), ""
    except Exception as exc:
        reasons.append(f"throwaway server: {exc}")
    return None, "; ".join(reasons)


def _binaries() -> tuple[str, str]:
    candidates = ["/usr/local/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for directory in [*os.environ.get("PATH", "").split(os.pathsep), *candidates]:
        initdb, pg_ctl = os.path.join(directory, "initdb"), os.path.join(directory, "pg_ctl")
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return initdb, pg_ctl
    raise RuntimeError("initdb/pg_ctl not found on PATH, /usr/local/bin or /usr/lib/postgresql")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *argv]
    return ["su", "postgres", "-c", " ".join(argv)]


def start_throwaway() -> Server:
    """A new cluster of its own (initdb + pg_ctl) on a free port; ``server.stop()`` removes it."""
    return _start_throwaway()


def _start_throwaway() -> Server:
    initdb, pg_ctl = _binaries()
    directory = tempfile.mkdtemp(prefix="taskloom-pg-")
    data = os.path.join(directory, "data")
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
    subprocess.run(
        _as_postgres([initdb, "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=200"
    start = _as_postgres(
        [pg_ctl, "-D", data, "-o", options, "-l", f"{directory}/log", "-w", "start"]
    )
    subprocess.run(start, check=True, capture_output=True, timeout=120)
    server = Server(
        f"postgresql://postgres@127.0.0.1:{port}/postgres",
        _as_postgres([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"]),
        directory,
        start,
    )
    deadline = time.monotonic() + 30
    while (problem := _reachable(server.url)) is not None:
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"started server never accepted connections: {problem}")
        time.sleep(0.1)
    return server


def create_database(server: Server, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.database_url(name)


def drop_database(server: Server, name: str) -> None:
    import psycopg

    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(server.url, autocommit=True) as conn,
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
