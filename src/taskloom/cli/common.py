"""What every ``taskloom`` subcommand shares: exit codes, the usage error, option parsers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Exit codes (see the module docstring).
EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
#: What a shell reports for a process stopped by Ctrl-C.
EXIT_INTERRUPTED = 130

TARGET_FORMS = "'path/to/file.py:WORKFLOW' or 'package.module:WORKFLOW'"
RUN_STATUSES = ("Running", "Completed", "Failed", "Cancelled")

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A usage or input error: printed as one message on stderr, exit code 2.

    ``detail`` (for example the traceback of a target module that failed to
    import) is printed before the message, because the message alone would
    hide where in the user's file things went wrong.
    """

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def positive_int(text: str) -> int:
    """argparse ``type`` for ``--limit``: the error names the bad value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def run_status(text: str) -> str:
    """argparse ``type`` for ``--status``: accept any case, return the journal's spelling."""
    for status in RUN_STATUSES:
        if status.lower() == text.strip().lower():
            return status
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a run status; use one of {', '.join(RUN_STATUSES)}"
    )


def parse_context(text: str | None, option: str = "--context") -> dict[str, Any]:
    """Parse ``--context`` / ``--params``: a JSON object, inline or ``@file``; errors name
    the option."""
    if text is None:
        return {}
    source = option
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        source = f"{option} file {str(path)!r}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{option}: cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{source} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"""give a JSON object, e.g. {option} '{{"n": 3}}'"""
        ) from None
    except ValueError as exc:
        raise CliError(f"{source}: {exc}") from None
    if not isinstance(value, dict):
        raise CliError(
            f"{source} must be a JSON object, got a JSON {_json_type(value)}; "
            f"""wrap it in an object, e.g. {option} '{{"value": ...}}'"""
        )
    return value


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON, and a context holding them could not be stored."""
    raise ValueError(f"{name} is not a JSON value; use null or a string instead")


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
