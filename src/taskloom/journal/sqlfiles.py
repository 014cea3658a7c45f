"""Load named SQL statements from the ``.sql`` files shipped in the package.

SQL lives in files, not in Python strings, so each backend's queries can be
read (and reviewed) as SQL.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load_queries(filename: str) -> dict[str, str]:
    """Parse ``-- name: NAME`` sections of a packaged SQL file into a dict."""
    text = resources.files("taskloom.journal").joinpath("sql", filename).read_text("utf-8")
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name is not None:
                queries[name] = "\n".join(lines).strip()
            name = line.removeprefix("-- name:").strip()
            lines = []
        elif name is not None and not line.startswith("--"):
            lines.append(line)
    if name is not None:
        queries[name] = "\n".join(lines).strip()
    return queries


def read_script(filename: str) -> str:
    """The whole text of a packaged SQL file (used for migrations)."""
    return resources.files("taskloom.journal").joinpath("sql", filename).read_text("utf-8")
