"""A real full disk and a real read-only folder under the SQLite journal (a small tmpfs).

Mounting needs root (CI runs as root). Where mounting is impossible the test
is skipped -- except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = textwrap.dedent(
    """
    import sys
    import taskloom
    from taskloom import flow, task

    @task
    def blob(i: int) -> str:
        return str(i) * 200_000

    @task
    def total(*parts: str) -> int:
        return sum(len(p) for p in parts)

    @flow(name="disk_filler")
    def filler(n: int):
        parts = [blob(0)]
        for i in range(1, n):  # one after the other: one commit each
            parts.append(blob(i, wait_for=[parts[-1]]))
        return total(*parts)

    db = sys.argv[1]
    try:
        if sys.argv[2] == "run":
            print("RESULT", filler.run(int(sys.argv[3]), db=db))
        else:
            print("RESULT", taskloom.resume(sys.argv[3], db=db, timeout=60))
    except Exception as exc:
        print("ERROR", type(exc).__name__, exc)
        sys.exit(3)
    """
)


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    where.mkdir()
    done = _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where))
    if done.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but a tmpfs cannot be mounted: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _app(tmp_path: Path, *args: str) -> str:
    app = tmp_path / "disk_app.py"
    app.write_text(APP)
    done = subprocess.run(
        [sys.executable, str(app), *args], capture_output=True, text=True, timeout=120, check=False
    )
    return done.stdout + done.stderr


def test_a_full_disk_then_space_back_resumes_the_run(tmp_path: Path, small_disk: Path) -> None:
    db_file = small_disk / "taskloom.db"
    db = f"sqlite:///{db_file}"
    out = _app(tmp_path, db, "run", "12")  # 2.8 MB of results on a 1 MB disk
    assert "ERROR JournalError" in out, out
    assert "the disk is full" in out and "nothing already recorded was lost" in out, out
    assert "no transaction is active" not in out

    grown = _mount("-o", "remount,size=64m", str(small_disk))
    assert grown.returncode == 0, grown.stderr
    conn = sqlite3.connect(db_file)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ((run_id, status),) = conn.execute("SELECT run_id, status FROM runs").fetchall()
    completed = conn.execute(
        "SELECT count(*) FROM task_runs WHERE status = 'Completed'"
    ).fetchone()[0]
    conn.close()
    assert status == "Running" and completed >= 1  # what was recorded before is still there
    out = _app(tmp_path, db, "resume", run_id)
    assert "RESULT 2800000" in out, out


def test_a_read_only_folder_is_named(tmp_path: Path, small_disk: Path) -> None:
    db = f"sqlite:///{small_disk / 'taskloom.db'}"
    assert "RESULT 200000" in _app(tmp_path, db, "run", "1")
    readonly = _mount("-o", "remount,ro", str(small_disk))
    assert readonly.returncode == 0, readonly.stderr
    out = _app(tmp_path, db, "run", "1")
    assert "ERROR JournalError" in out, out
    assert "read-only" in out, out
    assert _mount("-o", "remount,rw", str(small_disk)).returncode == 0
    assert "RESULT 200000" in _app(tmp_path, db, "run", "1")
