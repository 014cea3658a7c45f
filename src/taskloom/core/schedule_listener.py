"""PostgreSQL: hear that the schedules changed, from a LISTEN connection of our own.

A schedule edit in any process sends NOTIFY on the schema's
``taskloom_schedules`` channel in its transaction; every schedule loop
listens and reloads at once, so an edit never waits for a poll. A thread
of its own because LISTEN belongs to a session and waiting on it blocks;
after a lost connection it reconnects and reports a change (something may
have been missed while deaf).
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable

from taskloom.journal.pgconnect import connect, psycopg_module
from taskloom.journal.schedules import ScheduleStore

logger = logging.getLogger("taskloom")


class ScheduleListener:
    """Calls ``on_change()`` for every NOTIFY on the store's schedule channel."""

    def __init__(self, conninfo: str, channel: str, on_change: Callable[[], None]) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._on_change = on_change
        self._stop = threading.Event()
        # stop() writes to this pipe: the thread sleeps on the socket and the pipe,
        # with no timeout, so an idle listener never wakes.
        self._wake_r, self._wake_w = os.pipe()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="taskloom-schedules-listen")
        self._thread.daemon = True

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"could not LISTEN on {self._channel} within {timeout} s")

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        os.close(self._wake_w)
        os.close(self._wake_r)

    def _run(self) -> None:
        from psycopg import sql

        errors: type[Exception] = psycopg_module().Error
        first = True
        while not self._stop.is_set():
            try:
                with connect(self._conninfo) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._ready.set()
                    if not first:
                        self._on_change()
                    first = False
                    self._pump(conn)
            except errors as exc:
                if self._stop.is_set():
                    return
                logger.warning("taskloom schedule listener lost its connection (%s)", exc)
                self._stop.wait(1.0)

    def _pump(self, conn: object) -> None:
        pgconn = conn.pgconn  # type: ignore[attr-defined]
        fileno = conn.fileno()  # type: ignore[attr-defined]
        while not self._stop.is_set():
            readable, _, _ = select.select([fileno, self._wake_r], [], [])
            if fileno not in readable:
                continue
            pgconn.consume_input()
            heard = False
            while pgconn.notifies() is not None:
                heard = True
            if heard:
                self._on_change()
            if pgconn.status != 0:  # CONNECTION_OK
                raise psycopg_module().OperationalError("the LISTEN connection was closed")


def listen(store: ScheduleStore, on_change: Callable[[], None]) -> ScheduleListener:
    """Start listening for edits of ``store``'s schedules (PostgreSQL only)."""
    journal = store.journal
    conninfo: str = journal.conninfo  # type: ignore[attr-defined]
    assert store.channel is not None
    listener = ScheduleListener(conninfo, store.channel, on_change)
    listener.start()
    return listener
