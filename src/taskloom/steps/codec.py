"""How operation results and errors are recorded and restored.

Results are recorded as JSON, readable in the journal. Dataclasses and
pydantic models are recorded as their fields and, on replay, rebuilt as the
type named in the task's return annotation -- so a replayed step sees the
same kind of value the first execution did (the class comes from the
annotation, never from the journal: :mod:`taskloom.core.known_types`). Errors
are recorded with the exception's module and class so a terminal failure
re-raises the same type -- looked up only among modules already imported,
so journal text cannot make a worker import (and run) a module.
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Callable
from typing import Any

from taskloom.core.known_types import plain_default, rebuild

#: ``json.dumps(..., default=json_default)`` records dataclasses and pydantic models as fields.
json_default = plain_default


def convert(data: Any, annotation: Any, what: str) -> Any:
    """Recorded data as ``annotation``: a dataclass or model rebuilt, a number checked.

    What ``ctx.store.get(key, type)`` returns; ``what`` names the read in the error.
    """
    if annotation is None or data is None:
        return data
    if annotation is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if annotation in (int, float, str, bool, list, dict):
        if type(data) is bool and annotation is not bool:
            raise TypeError(f"{what}: the stored value is a bool, not {annotation.__name__}")
        if not isinstance(data, annotation):
            raise TypeError(
                f"{what}: the stored value is a {type(data).__name__}, not {annotation.__name__}"
            )
        return data
    return restore(data, annotation)


def encode_result(value: Any, what: str) -> str:
    """JSON text of ``value``; ``what`` names the producer in the error."""
    try:
        return json.dumps(value, default=plain_default, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{what} returned a {type(value).__name__} that cannot be recorded ({exc}); "
            "return JSON data (dict, list, str, number, bool, None), a dataclass or a "
            "pydantic model"
        ) from None


def return_type(fn: Callable[..., Any]) -> Any:
    """The return annotation of ``fn`` resolved to a type, or None."""
    try:
        return typing.get_type_hints(fn).get("return")
    except Exception:
        return None


def decode_result(text: str, annotation: Any) -> Any:
    """The recorded value, rebuilt as ``annotation`` when that is a dataclass or model."""
    return restore(json.loads(text), annotation)


#: Step results are plain JSON rebuilt from the annotation (shared with the core).
restore = rebuild


def encode_error(exc: BaseException) -> str:
    """Enough about ``exc`` to raise the same type again on replay."""
    args = list(exc.args)
    try:
        json.dumps(args)
    except (TypeError, ValueError):
        args = [str(exc)]
    return json.dumps(
        {
            "error": {
                "module": type(exc).__module__,
                "qualname": type(exc).__qualname__,
                "args": args,
                "message": str(exc),
            }
        }
    )


def rebuild_error(text: str | None, fallback: str) -> BaseException:
    """The recorded exception, same class and args when its module is imported here."""
    from taskloom.errors import TaskFailedError

    try:
        data = json.loads(text or "null")["error"]
        # Never import: importing a module the journal names would run its code.
        target: Any = sys.modules[data["module"]]
        for part in data["qualname"].split("."):
            target = getattr(target, part)
        if isinstance(target, type) and issubclass(target, BaseException):
            try:
                return target(*data["args"])
            except Exception:
                exc = target.__new__(target)
                BaseException.__init__(exc, *data["args"])
                return exc
    except Exception:
        pass
    return TaskFailedError(fallback)
