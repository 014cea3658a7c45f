"""Shared plumbing of the crash-test helper programs.

The programs are run as scripts (``python chain_app.py DB_URL SIDE_FILE ...``)
by tests/test_crash_recovery.py. A workflow's version hashes each task's
module and qualified name, so a script must not define its workflow as
``__main__``: :func:`main_as_module` re-imports the script under its own
module name, the name the test process uses when it loads the same file to
recover the run.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))


def append_line(path: str, text: str) -> None:
    """Record a side effect durably: it must survive a SIGKILL right after."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [line for line in f.read().splitlines() if line]
    except FileNotFoundError:
        return []


def wait_until_time(at: float) -> None:
    """Sleep until wall-clock time ``at`` (a start barrier across processes)."""
    delay = at - time.time()
    if delay > 0:
        time.sleep(delay)


def main_as_module(module_name: str) -> None:
    """Run ``module_name.main(sys.argv[1:])`` with the module imported under its name."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(module_name)
    entry: Callable[[list[str]], int] = module.main
    sys.exit(entry(sys.argv[1:]))
