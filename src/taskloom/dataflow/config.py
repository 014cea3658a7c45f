"""Settings of the dataflow style from ``pyproject.toml`` and the environment.

auto_workflow reads ``[tool.auto_workflow]`` and ``AUTO_WORKFLOW_*``
variables; taskloom reads its own ``[tool.taskloom]`` and ``TASKLOOM_*`` and
accepts auto_workflow's names too, so a project moving over keeps working.
Later sources win: defaults, ``[tool.auto_workflow]``, ``[tool.taskloom]``,
``AUTO_WORKFLOW_<KEY>``, ``TASKLOOM_<KEY>``.

The file is the ``pyproject.toml`` of the current directory or the nearest
parent that has one -- the project being run (auto_workflow reads the one
beside its own installed package, which is never the user's). Values are
checked when loaded: a bad one is a ``ValueError`` naming the key, where it
came from and what is allowed, instead of being silently ignored.

:func:`load_config` caches its answer; :func:`reload_config` reads again.
"""

from __future__ import annotations

import logging
import os
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Every setting and its default. ``None`` paths mean "taskloom's default place".
DEFAULTS: dict[str, Any] = {
    "log_level": "INFO",
    "max_dynamic_tasks": 2048,
    "artifact_store": "filesystem",
    "artifact_store_path": None,
    "artifact_serializer": "json",
    "result_cache": "memory",
    "result_cache_path": ".taskloom-cache",
    "result_cache_max_entries": None,
    "result_cache_serializer": "json",
    "process_pool_max_workers": None,
}

_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")


class Config(dict[str, Any]):
    """The merged settings (a dict, as auto_workflow returns); ``explicit``: keys a user set."""

    explicit: frozenset[str] = frozenset()
    #: The pyproject.toml that was read, if any.
    source: Path | None = None


def _positive_int(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("give a positive int")
    return value


def _optional_positive_int(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    return _positive_int(value)


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value).strip().lower() if isinstance(value, str) else value
        if text not in choices:
            raise ValueError("use one of " + ", ".join(repr(c) for c in choices))
        return str(text)

    return check


def _level(value: Any) -> str:
    text = str(value).strip().upper()
    if text not in _LEVELS:
        raise ValueError("use a logging level name: " + ", ".join(_LEVELS))
    return text


def _path(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ValueError("give a directory path")
    return os.fspath(value)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "log_level": _level,
    "max_dynamic_tasks": _positive_int,
    "artifact_store": _choice("memory", "filesystem"),
    "artifact_store_path": _path,
    "artifact_serializer": _choice("json", "pickle"),
    "result_cache": _choice("memory", "filesystem"),
    "result_cache_path": _path,
    "result_cache_max_entries": _optional_positive_int,
    "result_cache_serializer": _choice("json", "pickle"),
    "process_pool_max_workers": _optional_positive_int,
}

_lock = threading.Lock()
_cached: Config | None = None


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` from ``start`` (default: the current directory) up."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_sections(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        with path.open("rb") as f:
            parsed = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read settings from {path}: {exc}") from exc
    tool = parsed.get("tool", {})
    sections = []
    for name in ("auto_workflow", "taskloom"):
        section = tool.get(name, {}) if isinstance(tool, dict) else {}
        if not isinstance(section, dict):
            raise ValueError(f"[tool.{name}] in {path} must be a table of settings")
        sections.append(section)
    return sections[0], sections[1]


def _apply(merged: dict[str, Any], key: str, value: Any, where: str) -> None:
    check = _CHECKS[key]
    try:
        merged[key] = check(value)
    except ValueError as exc:
        raise ValueError(f"setting {key}={value!r} from {where}: {exc}") from None


def _build() -> Config:
    merged = Config(DEFAULTS)
    explicit: set[str] = set()
    path = find_pyproject()
    if path is not None:
        legacy, own = _read_sections(path)
        for section, table in (("auto_workflow", legacy), ("taskloom", own)):
            for key, value in table.items():
                if key in _CHECKS:
                    _apply(merged, key, value, f"[tool.{section}] in {path}")
                    explicit.add(key)
                else:
                    # Kept as given: auto_workflow does so, and other taskloom
                    # features may read their own keys from the same table.
                    merged[key] = value
    for prefix in ("AUTO_WORKFLOW_", "TASKLOOM_"):
        for key in _CHECKS:
            name = prefix + key.upper()
            if name in os.environ:
                _apply(merged, key, os.environ[name], f"${name}")
                explicit.add(key)
    merged.explicit = frozenset(explicit)
    merged.source = path
    if "log_level" in explicit:
        logging.getLogger("taskloom").setLevel(merged["log_level"])
    return merged


def load_config() -> Config:
    """The settings (read once, then cached); see the module docstring for the sources."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _build()
        return _cached


def reload_config() -> Config:
    """Read the settings again (after changing the environment or the file)."""
    global _cached
    with _lock:
        _cached = None
    config = load_config()
    for hook in _reload_hooks:
        hook()
    return config


_reload_hooks: list[Callable[[], None]] = []


def on_reload(hook: Callable[[], None]) -> None:
    """Call ``hook`` after every :func:`reload_config` (objects built from the settings)."""
    _reload_hooks.append(hook)


def setting(key: str) -> Any:
    """One setting's value."""
    return load_config()[key]


__all__ = [
    "DEFAULTS",
    "Config",
    "find_pyproject",
    "load_config",
    "on_reload",
    "reload_config",
    "setting",
]
