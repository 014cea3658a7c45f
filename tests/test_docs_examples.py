"""Every Python block in README.md and docs/*.md runs as it stands.

A reader pastes these blocks; a moved module or a renamed name must break
this test rather than the reader's first try. Each block runs in a fresh
interpreter in an empty folder (so the embedded ``./taskloom.db`` is its
own). Blocks that need a PostgreSQL server say so in a comment
(``Needs a PostgreSQL server``) and read ``$TASKLOOM_DATABASE_URL``, which
the test points at a throwaway database of the test server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDS_POSTGRES = "Needs a PostgreSQL server"


def _blocks() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for match in re.finditer(r"```python\n(.*?)```", text, re.S):
            line = text.count("\n", 0, match.start()) + 2
            found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()
PLAIN = [pytest.param(code, id=where) for where, code in BLOCKS if NEEDS_POSTGRES not in code]
POSTGRES = [pytest.param(code, id=where) for where, code in BLOCKS if NEEDS_POSTGRES in code]


def _run(code: str, cwd: Path, database_url: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    if database_url is not None:
        env["TASKLOOM_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, f"the block failed:\n{code}\n--- stderr ---\n{done.stderr}"


def test_the_docs_have_blocks_of_both_kinds() -> None:
    assert len(PLAIN) >= 15 and len(POSTGRES) >= 3


@pytest.mark.timeout(120)
@pytest.mark.parametrize("code", PLAIN)
def test_block_runs_as_it_stands(code: str, tmp_path: Path) -> None:
    _run(code, tmp_path, None)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("code", POSTGRES)
def test_postgres_block_runs_against_the_test_server(
    code: str, tmp_path: Path, pg_url: str
) -> None:
    _run(code, tmp_path, pg_url)
