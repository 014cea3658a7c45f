"""Package-level promises: light import, no logging configuration, public API."""

from __future__ import annotations

import subprocess
import sys

import taskloom


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_import_installs_no_logging_handler() -> None:
    out = _run(
        "import logging, taskloom; "
        "print(len(logging.getLogger('taskloom').handlers), len(logging.getLogger().handlers))"
    )
    assert out == "0 0"


def test_import_is_light() -> None:
    """The execution layer (asyncio, sqlite3, threads) loads only when used."""
    out = _run(
        "import sys, taskloom; "
        "print(sorted(m for m in ('asyncio', 'sqlite3', 'cloudpickle', 'psycopg') "
        "if m in sys.modules))"
    )
    assert out == "[]"


def test_every_public_name_resolves() -> None:
    for name in taskloom.__all__:
        assert getattr(taskloom, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        taskloom.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
