"""Mechanics of the fault-injection suite: seeded schedules, side-effect logs, invariants.

The task bodies of ``apps/styles_app.py`` log every execution to a file per
task (``<tag>.<name>``: ``start PID`` / ``end PID``), outside the engine.
A test kills (or freezes) processes at seeded moments -- "after the next k
task starts" -- and takes a :class:`Snapshot` after each kill: what the
journal says is completed, and how often each body had run by then. At the
end :func:`check` holds the journal and the logs to the guarantees:

* every run ends, with the output of a run without faults;
* a task whose completion was recorded never runs again;
* no completion is recorded twice;
* a body runs once, plus at most once per process that was killed (or
  frozen and fenced off) while running it.

Counts go to ``$TASKLOOM_FAULTS_REPORT`` (one JSON line per test) for
docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APPS = Path(__file__).parent / "apps"
STYLES_APP = APPS / "styles_app.py"
HEAVY = os.environ.get("TASKLOOM_FAULTS_HEAVY", "") not in ("", "0")
#: The suite's seed; every test derives its own from it and prints it on failure.
SEED = int(os.environ.get("TASKLOOM_FAULTS_SEED", "20261204"))
REPORT_ENV = "TASKLOOM_FAULTS_REPORT"
#: The bodies' logs and the death limit every process of the suite gets.
SIDE_ENV = "TASKLOOM_FAULT_SIDE"

#: The logged names of each style's workload (styles_app.py), per run.
NAMES = {
    "dag": ("a", "b0", "b1", "b2", "b3", "c", "d0", "d1", "e"),
    "flow": ("fl_load#0", *(f"fl_square#{i}" for i in range(4)), "fl_total#0", "fl_report#0"),
    "steps": ("st_charge", "st_reserve", "st_ship", "st_notify"),
}
_KIND_STYLE = {"dag": "dag", "flow": "flow", "steps": "steps"}
_TAG = re.compile(r"T[a-z]\d{5}Z")
_OP = re.compile(r"^s\d+\.\d+#[0-9a-f]+:(.+)$", re.DOTALL)
#: Journal events that record a completion, one per completed row.
_COMPLETIONS = ("task_succeeded", "operation_completed", "step_completed")


def rng_for(test: str) -> random.Random:
    """The seeded generator of one test (its seed is the suite's and the test's name)."""
    return random.Random(f"{SEED}:{test}")


def scaled(default: int, heavy: int) -> int:
    return heavy if HEAVY else default


def style_of(tag: str) -> str:
    return {"d": "dag", "f": "flow", "s": "steps"}[tag[1]]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.005) -> Any:
    """Poll ``predicate`` until it is truthy (the event the test means), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


# --------------------------------------------------------------------------- side effects


class SideLog:
    """The bodies' execution logs in one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.progress_file = directory / "progress"

    def progress(self) -> int:
        """How many bodies have started so far (one byte each)."""
        try:
            return self.progress_file.stat().st_size
        except FileNotFoundError:
            return 0

    def executions(self) -> dict[tuple[str, str], list[int]]:
        """``(tag, name) -> [pid of each start]``, in order."""
        found: dict[tuple[str, str], list[int]] = {}
        for path in self.dir.iterdir():
            match = _TAG.fullmatch(path.name[: path.name.find(".")])
            if match is None:
                continue
            tag, name = path.name.split(".", 1)
            pids = [
                int(line.split()[1])
                for line in path.read_text().splitlines()
                if line.startswith("start ")
            ]
            found[(tag, name)] = pids
        return found

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter({key: len(pids) for key, pids in self.executions().items()})

    def hold(self, name: str) -> None:
        """Make the bodies of task ``name`` wait for :meth:`release`."""
        (self.dir / f"hold.{name}").touch()

    def release(self, name: str) -> None:
        (self.dir / f"release.{name}").touch()


def wait_progress(
    side: SideLog, steps: int, finished: Callable[[], bool], timeout: float = 60.0
) -> bool:
    """Wait for ``steps`` more body starts; False if the work finished first."""
    target = side.progress() + steps
    deadline = time.monotonic() + timeout
    checks = 0
    while side.progress() < target:
        checks += 1
        if checks % 20 == 0 and finished():
            return False
        if time.monotonic() >= deadline:
            raise AssertionError(f"no progress for {timeout} s ({side.progress()}/{target})")
        time.sleep(0.002)
    return True


# --------------------------------------------------------------------------- the journal


@dataclass
class JournalRows:
    """What the invariants need of a journal, read with plain SQL (SQLite or PostgreSQL)."""

    runs: dict[str, dict[str, Any]]  # tag -> run row
    completed: set[tuple[str, str]]  # (tag, logged name) recorded completed
    completions: Counter[tuple[str, str, str]]  # (run_id, key, kind) -> completion events
    statuses: dict[tuple[str, str], str]  # (run_id, key) -> status


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no journal at {path} yet")
        with contextlib.closing(sqlite3.connect(path, timeout=60)) as conn:
            return list(conn.execute(sql).fetchall())
    import psycopg

    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        return list(conn.execute(sql).fetchall())


def read_journal(url: str) -> JournalRows:
    """Read through the journal's own interface (it knows where each value lives)."""
    from taskloom.journal import open_journal

    journal = open_journal(url)
    try:
        runs: dict[str, dict[str, Any]] = {}
        completed: set[tuple[str, str]] = set()
        statuses: dict[tuple[str, str], str] = {}
        completions: Counter[tuple[str, str, str]] = Counter()
        for run in journal.list_runs(limit=1_000_000):
            match = _TAG.search(run.input_json or "") or _TAG.search(run.run_id)
            if match is None:
                continue
            tag = match.group(0)
            runs[tag] = {
                "run_id": run.run_id,
                "kind": run.kind,
                "status": run.status,
                "final": run.final_json,
                "error": run.error,
            }
            for task in journal.get_tasks(run.run_id):
                statuses[(run.run_id, task.task_key)] = task.status
                name = logged_name(run.kind, task.task_key)
                if task.status == "Completed" and name is not None:
                    completed.add((tag, name))
            for event in journal.get_events(run.run_id):
                if event.kind in _COMPLETIONS and event.task_key is not None:
                    completions[(run.run_id, event.task_key, event.kind)] += 1
    finally:
        journal.close()
    return JournalRows(runs, completed, completions, statuses)


def logged_name(kind: str, key: str) -> str | None:
    """The side-log name of a journal row, or None for rows no body logs."""
    if kind != "steps":
        return key
    match = _OP.match(key)
    return match.group(1).rsplit(".", 1)[-1] if match else None


def unfinished(url: str) -> int:
    """Runs not ended yet (0 before the journal exists)."""
    if url.startswith("sqlite:///") and not os.path.exists(url.removeprefix("sqlite:///")):
        return 0
    return int(query(url, "SELECT count(*) FROM runs WHERE status = 'Running'")[0][0])


# --------------------------------------------------------------------------- invariants


@dataclass
class Snapshot:
    """The state right after a process was killed: completed tasks and executions so far."""

    pid: int
    completed: set[tuple[str, str]]
    counts: Counter[tuple[str, str]]
    #: Styles with an unfinished run at the kill (the kill counts for them).
    hit: set[str]
    #: Every run recorded at the kill.
    runs: set[str] = field(default_factory=set)


def snapshot(url: str, side: SideLog, pid: int) -> Snapshot:
    rows = read_journal(url)  # completions first, executions second (see check)
    counts = side.counts()
    hit = {style_of(tag) for tag, run in rows.runs.items() if run["status"] == "Running"}
    return Snapshot(pid, rows.completed, counts, hit, set(rows.runs))


@dataclass
class Tally:
    """What one test did and saw, per style: the figures of docs/reliability.md."""

    test: str
    backend: str
    seed: str
    kills: Counter[str] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    tasks: Counter[str] = field(default_factory=Counter)
    executions: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)

    def count_kill(self, snap: Snapshot) -> None:
        for style in snap.hit:
            self.kills[style] += 1

    def report(self) -> None:
        data = {
            "test": self.test,
            "backend": self.backend,
            "seed": self.seed,
            "heavy": HEAVY,
            "kills": dict(self.kills),
            "runs": dict(self.runs),
            "tasks": dict(self.tasks),
            "executions": dict(self.executions),
            "duplicates": dict(self.duplicates),
            **self.extra,
        }
        print(json.dumps(data, sort_keys=True))
        path = os.environ.get(REPORT_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(data, sort_keys=True) + "\n")


def check(
    url: str,
    side: SideLog,
    tally: Tally,
    *,
    reference: dict[str, Any],
    snapshots: Iterable[Snapshot] = (),
    killed: Iterable[int] = (),
    fenced: dict[tuple[str, str], set[int]] | None = None,
    replayed: Counter[str] | None = None,
) -> None:
    """Hold the journal and the side-effect logs to the crash guarantees (see the module).

    ``killed``: pids SIGKILLed while the runs went on; ``fenced``: for
    ``(tag, name)``, the pids whose completion of it was rejected as late;
    ``replayed``: per run tag, how often a worker could not commit the run's
    step rows (a dropped connection) and replayed it -- each may run the
    operation then in flight once more, in the same process.
    """
    rows = read_journal(url)
    executions = side.executions()
    killed = set(killed)
    fenced = fenced or {}
    problems: list[str] = []
    # A process killed before it created some of its runs never started them;
    # a run recorded once must still be there, and one of every style must be.
    snapshots = list(snapshots)
    assert set(rows.runs) <= set(reference), sorted(set(rows.runs) - set(reference))
    lost = {tag for snap in snapshots for tag in snap.runs} - set(rows.runs)
    assert not lost, f"runs recorded before a kill are gone from the journal: {sorted(lost)}"
    assert {style_of(tag) for tag in rows.runs} == set(NAMES), sorted(rows.runs)
    for tag, run in sorted(rows.runs.items()):
        style = style_of(tag)
        tally.runs[style] += 1
        if run["status"] != "Completed":
            problems.append(f"run {tag} ({run['run_id']}) ended {run['status']}: {run['error']}")
            continue
        if json.loads(run["final"]) != reference[tag]:
            problems.append(f"run {tag}: output {run['final']} != fault-free {reference[tag]}")
        for name in NAMES[style]:
            tally.tasks[style] += 1
            pids = executions.get((tag, name), [])
            tally.executions[style] += len(pids)
            if not pids:
                problems.append(f"{tag}.{name} of a completed run never ran")
                continue
            seen = Counter(pids)
            replays = (replayed or Counter())[tag]
            if replays:
                # Re-run after a lost commit: bounded by the lost commits.
                extra = len(pids) - 1 - len(killed & set(seen))
                if extra > replays:
                    problems.append(
                        f"{tag}.{name} ran {len(pids)} times; {replays} lost commit(s) of its "
                        "run's step rows allow one more each"
                    )
                tally.duplicates["step rows' commit lost (connection dropped)"] += max(0, extra)
                continue
            twice = [p for p, n in seen.items() if n > 1]
            if twice:
                problems.append(f"{tag}.{name} ran more than once in process(es) {twice}")
            allowed = killed | fenced.get((tag, name), set())
            survivors = [p for p in seen if p not in allowed]
            if len(survivors) > 1:
                problems.append(
                    f"{tag}.{name} ran in {len(survivors)} processes that were neither "
                    f"killed nor fenced off: {survivors}"
                )
            extra = len(pids) - 1
            if extra:
                fenced_here = len(fenced.get((tag, name), set()) & set(seen))
                tally.duplicates["fenced late completion"] += min(extra, fenced_here)
                tally.duplicates["in flight at a SIGKILL"] += extra - min(extra, fenced_here)
    for snap in snapshots:
        for key in snap.completed:
            now = len(executions.get(key, []))
            if now != snap.counts[key]:
                problems.append(
                    f"{key[0]}.{key[1]} was recorded completed when pid {snap.pid} was killed "
                    f"(after {snap.counts[key]} execution(s)) but ran again ({now} in all)"
                )
    twice = {k: n for k, n in rows.completions.items() if n > 1}
    if twice:
        problems.append(f"completions recorded more than once: {twice}")
    for (run_id, key), status in rows.statuses.items():
        if status == "Completed" and not any(
            rows.completions[(run_id, key, kind)] for kind in _COMPLETIONS
        ):
            problems.append(f"row {run_id}/{key} is Completed without a completion event")
    tally.duplicates.setdefault("completed task run again", 0)
    tally.duplicates.setdefault("completion recorded twice", len(twice))
    tally.report()
    assert not problems, f"seed {tally.seed}: " + "\n".join(problems[:30])


# --------------------------------------------------------------------------- processes


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *argv], env=env, stdout=out, stderr=out)


def suite_env(side: SideLog, **extra: str) -> dict[str, str]:
    """The environment of every process of a fault test.

    The kills of the suite land on purpose while tasks run, and one task may
    be in flight at several of them: the death limit (poison tasks) is set
    out of reach here, and tested on its own in test_poison.py.
    """
    return {
        **os.environ,
        SIDE_ENV: str(side.dir),
        "TASKLOOM_MAX_PROCESS_DEATHS": "1000",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def reference_outputs(tmp: Path, batches: list[int], runs: int) -> dict[str, Any]:
    """The outputs of the same runs without faults (a fresh journal, one process)."""
    db = f"sqlite:///{tmp / 'reference.db'}"
    side = SideLog(tmp / "reference-side")
    for batch in batches:
        done = subprocess.run(
            [sys.executable, str(STYLES_APP), db, str(side.dir), "start", str(batch), str(runs)],
            env=suite_env(side),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    return {tag: json.loads(run["final"]) for tag, run in read_journal(db).runs.items()}


# --------------------------------------------------------------------------- PostgreSQL workers


class WorkerProc:
    """One ``taskloom worker`` process importing the styles app; its log in a file."""

    def __init__(
        self,
        url: str,
        side: SideLog,
        tmp: Path,
        *,
        lease: float,
        concurrency: int = 4,
        app: Path = STYLES_APP,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = tmp / f"worker-{time.monotonic_ns()}.log"
        argv = ["-m", "taskloom", "worker", "--db", url, "--import", str(app)]
        argv += ["--lease", str(lease), "--poll", "0.2", "--concurrency", str(concurrency)]
        self.proc = spawn(argv, env if env is not None else suite_env(side), self.log)
        self.pid = self.proc.pid

    def text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        self.proc.send_signal(9)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(18)  # SIGCONT, in case it was frozen
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_REJECTED = re.compile(r"late completion rejected: task '([^']+)' of run (\S+) ")
_UNWRITTEN = re.compile(r"could not write step rows of run\(s\) ([^(]+) \(replayed")


def unwritten_steps(url: str, workers: Iterable[WorkerProc]) -> Counter[str]:
    """Run tag -> times a worker could not write a step run's rows (then replays it)."""
    tags = {run["run_id"]: tag for tag, run in read_journal(url).runs.items()}
    found: Counter[str] = Counter()
    for worker in workers:
        for runs in _UNWRITTEN.findall(worker.text()):
            for run_id in runs.split():
                if run_id in tags:
                    found[tags[run_id]] += 1
    return found


def settle(workers: Iterable[WorkerProc]) -> bool:
    """Drain and stop every worker (SIGTERM): what each still had to record -- a
    completion it was retrying, a late one to be rejected -- is done and logged.
    True if they were all alive until then."""
    workers = list(workers)
    alive = all(w.alive() for w in workers)
    for worker in workers:
        worker.stop()
    return alive


def fenced_off(url: str, workers: Iterable[WorkerProc]) -> dict[tuple[str, str], set[int]]:
    """``(tag, name) -> pids`` whose completion the workers logged as rejected (late)."""
    rows = read_journal(url)
    by_id = {run["run_id"]: (tag, run["kind"]) for tag, run in rows.runs.items()}
    found: dict[tuple[str, str], set[int]] = {}
    for worker in workers:
        for key, run_id in _REJECTED.findall(worker.text()):
            if run_id not in by_id:
                continue
            tag, kind = by_id[run_id]
            name = logged_name(kind, key)
            if name is not None:
                found.setdefault((tag, name), set()).add(worker.pid)
    return found


def load_styles_app() -> Any:
    """The styles app as a module of the test process (a client: versions must match)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("styles_app", STYLES_APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
