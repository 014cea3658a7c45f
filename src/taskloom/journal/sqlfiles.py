"""Load named SQL statements from the ``.sql`` files shipped in the package.

SQL lives in files, not in Python strings, so each backend's queries can be
read (and reviewed) as SQL.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_MIGRATION = re.compile(r"^(?P<backend>[a-z]+)_(?P<number>\d{3})_[a-z0-9_]+\.sql$")


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


@cache
def migrations(backend: str) -> tuple[tuple[int, str], ...]:
    """The backend's migration files as ``(version, filename)``, oldest first.

    Migrations are found by their file names (``sqlite_004_schedules.sql``), so
    a feature adds its schema change by adding one file: no list to edit, and
    two changes made side by side never fight over a position in one.
    """
    found: list[tuple[int, str]] = []
    for entry in resources.files("taskloom.journal").joinpath("sql").iterdir():
        match = _MIGRATION.match(entry.name)
        if match and match["backend"] == backend:
            found.append((int(match["number"]), entry.name))
    found.sort()
    numbers = [number for number, _ in found]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"two {backend} migrations share a number: {found}")
    return tuple(found)
