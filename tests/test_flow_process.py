"""run_in="process": bodies run in worker processes; a timed-out worker is killed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from taskloom import TaskTimeoutError, flow, task
from taskloom.core.shared_engines import shutdown_engines
from taskloom.errors import TaskExecutionError


@pytest.fixture(autouse=True)
def _engines() -> Iterator[None]:
    yield
    shutdown_engines()


@pytest.mark.timeout(60)
def test_process_task_runs_in_another_process(db_url: str) -> None:
    @task(run_in="process")
    def where(offset: int) -> int:
        return os.getpid() + offset

    @flow
    def remote() -> Any:
        return where(0)

    assert remote.run(db=db_url) != os.getpid()
    assert where(0) != os.getpid()


@pytest.mark.timeout(60)
def test_process_task_timeout_kills_the_worker(db_url: str, tmp_path: Any) -> None:
    marker = tmp_path / "pid"

    @task(run_in="process", timeout=1.0)
    def hang(path: str) -> None:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(60)

    @flow
    def hanging() -> Any:
        return hang(str(marker))

    start = time.monotonic()
    with pytest.raises(TaskTimeoutError, match="hang"):
        hanging.run(db=db_url)
    assert time.monotonic() - start < 10
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"worker {pid} still alive after its task timed out")


class PaymentDeclined(Exception):
    """Module-level so the worker process can rebuild it."""


@pytest.mark.timeout(60)
def test_exception_crosses_the_process_boundary_with_type_and_traceback(db_url: str) -> None:
    @task(run_in="process")
    def charge(amount: int) -> int:
        raise PaymentDeclined(f"declined: {amount}")

    @flow
    def pay() -> Any:
        return charge(7)

    with pytest.raises(TaskExecutionError, match="declined: 7") as raised:
        pay.run(db=db_url)
    assert isinstance(raised.value.original, PaymentDeclined)
    # The worker's traceback travels with the error, naming the task body.
    text = "".join(__import__("traceback").format_exception(raised.value.original))
    assert "charge" in text
    with pytest.raises(PaymentDeclined, match="declined: 3"):
        charge(3)  # an immediate call outside a flow too


@pytest.mark.timeout(60)
def test_unpicklable_argument_in_process_mode_is_a_clear_error(db_url: str) -> None:
    import threading

    @task(run_in="process")
    def use(lock: Any) -> int:
        return 1

    with pytest.raises(Exception, match=r"use") as raised:
        use(threading.Lock())
    assert "pickl" in str(raised.value).lower()
