"""grctl's example programs (examples/grctl_style) survive a SIGKILL in the middle.

Each test runs an example in a child process, SIGKILLs it once its side
effects (lines its tasks append to a file outside the engine) show it is in
the middle, runs it again, and checks the result and the side effects:
a task that completed before the kill never runs again; only the one in
flight at the kill may run twice (task bodies are at-least-once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from taskloom.steps import Client, HistoryKind

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "grctl_style"


class Example:
    """One example program with its own journal and side-effect file."""

    def __init__(self, tmp_path: Path, name: str, **env: str) -> None:
        self.script = str(EXAMPLES / f"{name}.py")
        self.effects = tmp_path / "effects.log"
        self.db = f"sqlite:///{tmp_path / 'journal.db'}"
        self.cwd = tmp_path
        self.env = {
            **os.environ,
            "TASKLOOM_DATABASE_URL": self.db,
            "GRCTL_EXAMPLE_EFFECTS": str(self.effects),
            "GRCTL_EXAMPLE_LATENCY": "0",
            **env,
        }

    def lines(self) -> list[str]:
        return self.effects.read_text().splitlines() if self.effects.exists() else []

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, self.script, *args],
            env={**self.env, **env},
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def kill_when(self, reached: Callable[[list[str]], bool], *args: str, **env: str) -> list[str]:
        """Run, SIGKILL once ``reached(lines)``; the side effects written until then."""
        child = self.start(*args, **env)
        try:
            self.wait_for(reached, child)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        return self.lines()

    def wait_for(
        self, reached: Callable[[list[str]], bool], child: subprocess.Popen[str] | None = None
    ) -> None:
        deadline = time.monotonic() + 30
        while not reached(self.lines()):
            if child is not None and child.poll() is not None:
                raise AssertionError(f"the example exited first: {child.communicate()[1]}")
            assert time.monotonic() < deadline, f"never reached; effects: {self.lines()[-5:]}"
            time.sleep(0.02)

    def run(self, *args: str, **env: str) -> Any:
        """Run to the end; the JSON after ``result:`` in its output."""
        done = subprocess.run(
            [sys.executable, self.script, *args],
            env={**self.env, **env},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        found = [line for line in done.stdout.splitlines() if line.startswith("result: ")]
        assert found, done.stdout
        return json.loads(found[-1].removeprefix("result: "))


def has(*needles: str) -> Callable[[list[str]], bool]:
    return lambda lines: all(any(line.startswith(n) for line in lines) for n in needles)


def count(prefix: str, at_least: int) -> Callable[[list[str]], bool]:
    return lambda lines: sum(line.startswith(prefix) for line in lines) >= at_least


def assert_not_repeated(before: Sequence[str], after: Sequence[str]) -> None:
    """What ran before the kill did not run again, except the task in flight (the last line)."""
    again = [line for line in after[len(before) :] if line in set(before[:-1])]
    assert again == [], f"completed tasks ran again after the restart: {again[:5]}"


@pytest.mark.timeout(90)
def test_hello_world(tmp_path: Path) -> None:
    ex = Example(tmp_path, "hello_world")
    before = ex.kill_when(has("deliver"), GRCTL_EXAMPLE_LATENCY="60")
    assert before == ["greeting-api World", "deliver Hello, World!"]
    assert ex.run() == "Hello, World!"
    # the recorded greeting was reused; only the delivery in flight ran again
    assert ex.lines() == ["greeting-api World", "deliver Hello, World!", "deliver Hello, World!"]


@pytest.mark.timeout(120)
def test_loop_of_a_thousand_steps(tmp_path: Path) -> None:
    ex = Example(tmp_path, "loop_the_loop")
    before = ex.kill_when(count("incr", 300))
    assert ex.run() == 1000
    after = ex.lines()
    assert len(before) < 1000
    assert sorted(set(after)) == sorted(f"incr {c}" for c in range(1000))
    assert len(after) - 1000 <= 1
    assert_not_repeated(before, after)


@pytest.mark.timeout(90)
def test_waiting_for_events(tmp_path: Path) -> None:
    ex = Example(tmp_path, "wait_events")
    ex.kill_when(has("events sent", "greeting-api"), GRCTL_EXAMPLE_LATENCY="60")
    assert ex.run() == "Hello, Mr Cem! Goodbye, Cem! Until next time!"
    assert Counter(ex.lines()) == {
        "session Cem": 1,
        "events sent": 1,
        "greeting-api Mr Cem": 2,  # in flight at the kill: at least once
        "farewell-api Cem": 1,
    }


@pytest.mark.timeout(90)
def test_waiting_for_events_times_out_at_the_recorded_deadline(tmp_path: Path) -> None:
    ex = Example(tmp_path, "wait_events", GRCTL_EXAMPLE_WAIT="2")
    ex.kill_when(has("session"), "--no-events")
    assert ex.run("--no-events") == "no reply from Cem"
    counts = Counter(ex.lines())
    assert counts["reminder Cem"] == 1 and counts["session Cem"] in (1, 2)
    kinds = [e.kind for e in Client(ex.db, execute=False).get_handle("greet-1").get_history()]
    assert HistoryKind.wait_event_timeout in kinds
    assert HistoryKind.event_received not in kinds
    assert kinds[-1] == HistoryKind.run_completed


@pytest.mark.timeout(120)
def test_loop_fed_by_events(tmp_path: Path) -> None:
    ex = Example(tmp_path, "loop_the_event")
    before = ex.kill_when(lambda lines: has("events sent")(lines) and count("incr", 300)(lines))
    assert ex.run() == 1000
    after = ex.lines()
    incr = [line for line in after if line.startswith("incr")]
    assert sorted(set(incr)) == sorted(f"incr {c}" for c in range(1000))
    assert len(incr) - 1000 <= 1
    assert_not_repeated(before, after)


@pytest.mark.timeout(90)
def test_parent_and_child_with_send_to_parent(tmp_path: Path) -> None:
    ex = Example(tmp_path, "child_workflow")
    ex.kill_when(has("ledger"), GRCTL_EXAMPLE_LATENCY="60")
    result = ex.run()
    lines = ex.lines()
    charge = [line for line in lines if line.startswith("charge")]
    assert len(charge) == 1  # charged once: the recorded payment (and its uuid) replayed
    txn = charge[0].split()[-1]
    assert result == f"Order ORDER-001 completed with payment status: success transaction_id: {txn}"
    assert Counter(lines) == {"validate ORDER-001": 1, charge[0]: 1, f"ledger {txn}": 2}
    history = Client(ex.db, execute=False).get_handle("order-1").get_history()
    received = [e.msg for e in history if e.kind == HistoryKind.event_received]
    assert received == [
        {"event_name": "payment_completed", "payload": {"status": "success", "transaction_id": txn}}
    ]


@pytest.mark.timeout(90)
def test_ticker_worker_killed_and_replaced(tmp_path: Path) -> None:
    ex = Example(tmp_path, "ticker", GRCTL_EXAMPLE_TICK="0.3")
    assert ex.start("start").wait(timeout=30) == 0
    assert ex.lines() == []  # the client only records the run
    ex.kill_when(has("tick 4"), "worker")
    worker = ex.start("worker")
    try:
        done = subprocess.run(
            [sys.executable, ex.script, "result"],
            env=ex.env,
            cwd=ex.cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    assert "result: 10" in done.stdout
    expected = {f"tick {i}": 1 for i in range(10)}
    expected["tick 4"] = 2  # in flight when the worker was killed
    assert Counter(ex.lines()) == expected


@pytest.mark.timeout(90)
def test_pydantic_models(tmp_path: Path) -> None:
    ex = Example(tmp_path, "pydantic_models")
    ex.kill_when(has("capture"), GRCTL_EXAMPLE_LATENCY="60")
    assert ex.run() == {
        "order_id": "ORD-001",
        "customer": "Alice",
        "total": 107.99,
        "payment_status": "approved",
        "transaction_id": "TXN-XYZ",
        "captured": 107.99,
    }
    assert Counter(ex.lines()) == {"enrich ORD-001": 1, "capture TXN-XYZ": 2}


def _received(db: str, workflow_id: str) -> list[str]:
    """Events the run has handled so far, read from the journal (nothing runs here)."""
    history = Client(db, execute=False).get_handle(workflow_id).get_history()
    return [e.msg["event_name"] for e in history if e.kind == HistoryKind.event_received]


@pytest.mark.timeout(90)
def test_orchestrator_of_two_children_in_grctl_earlier_spellings(tmp_path: Path) -> None:
    ex = Example(tmp_path, "async_child_workflows")
    child = ex.start(GRCTL_EXAMPLE_LATENCY="60")
    try:  # killed once child A has reported and child B is computing
        ex.wait_for(has("compute-b"), child)
        deadline = time.monotonic() + 30
        while "task_a_completed" not in _received(ex.db, "orchestrator-1"):
            assert time.monotonic() < deadline, "the orchestrator never got task A's event"
            time.sleep(0.02)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    result = ex.run()
    assert result == "Orchestrator completed: result-a-hello, result-b-world"
    assert Counter(ex.lines()) == {"compute-a hello": 1, "compute-b world": 2}
    assert sorted(_received(ex.db, "orchestrator-1")) == ["task_a_completed", "task_b_completed"]
