"""The house rules of the package layout, read from the source (docs/architecture.md).

Every import counts: module level, inside functions and under
``TYPE_CHECKING``, because each is a dependency a reader must follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "taskloom"
STYLES = {"dag", "dataflow", "steps"}
#: Rooms that hold interfaces on top of everything (they may import any room).
INTERFACES = {"cli", "compat", "ui", "telemetry"}
#: Packages that belong to the public surface (``taskloom.retry`` is a package of values).
SURFACE_PACKAGES = {"retry"}
MAX_LINES = 550


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _room(module: str) -> str:
    """``taskloom.core.engine`` -> ``core``; top-level modules are the public surface."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return "surface" if parts[1] in SURFACE_PACKAGES else parts[1]
    return "surface"


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names if a.name.startswith("taskloom"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("taskloom"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in MODULES else base)
    return {t for t in targets if t != module}


EDGES = {m: _imports(p, m) for m, p in MODULES.items()}


def _violations(rule: str) -> list[str]:
    bad: list[str] = []
    for module, targets in sorted(EDGES.items()):
        room = _room(module)
        for target in sorted(targets):
            other = _room(target)
            if other in ("surface", room) or target == "taskloom":
                continue
            if rule == "core" and room == "core" and other != "journal":
                bad.append(f"{module} -> {target}")
            if rule == "journal" and room == "journal":
                bad.append(f"{module} -> {target}")
            if rule == "styles" and room in STYLES and other in STYLES:
                bad.append(f"{module} -> {target}")
            if rule == "distributed" and room == "distributed" and other not in ("core", "journal"):
                bad.append(f"{module} -> {target}")
    return bad


@pytest.mark.parametrize(
    ("rule", "meaning"),
    [
        ("core", "core/ imports only journal/ and the public surface"),
        ("journal", "journal/ is the floor: it imports no other room"),
        ("styles", "a style never imports another style"),
        ("distributed", "distributed/ imports only core/ and journal/"),
    ],
)
def test_rooms_import_only_what_the_layout_allows(rule: str, meaning: str) -> None:
    assert _violations(rule) == [], meaning


def test_the_surface_reaches_the_styles_only_through_named_seams() -> None:
    """``taskloom.task`` must not import the dataflow or steps runtimes (core/calls.py)."""
    reach = {t for t in EDGES["taskloom.task"] if _room(t) in ("dataflow", "steps")}
    assert reach == set()


def test_every_module_is_short_and_says_why_it_exists() -> None:
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"modules over {MAX_LINES} lines: split them by idea"
    undocumented = sorted(
        m
        for m, p in MODULES.items()
        if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text())) is None
    )
    assert undocumented == []


def test_the_checker_sees_real_violations(tmp_path: Path) -> None:
    """The rules above can fail: a planted core -> style import is reported."""
    planted = {"taskloom.core.fake": {"taskloom.dag.runner"}}
    original = dict(EDGES)
    try:
        EDGES.update(planted)
        assert _violations("core") == ["taskloom.core.fake -> taskloom.dag.runner"]
    finally:
        EDGES.clear()
        EDGES.update(original)
