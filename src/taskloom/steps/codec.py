"""How operation results and errors are recorded and restored.

Results are recorded as JSON, readable in the journal. Dataclasses and
pydantic models are recorded as their fields and, on replay, rebuilt as the
type named in the task's return annotation -- so a replayed step sees the
same kind of value the first execution did. Errors are recorded with the
exception's module and class so a terminal failure re-raises the same type.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import typing
from collections.abc import Callable
from typing import Any


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic v2 model
        return dump(mode="json")
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"a {type(value).__name__} is not JSON data")


#: ``json.dumps(..., default=json_default)`` records dataclasses and pydantic models as fields.
json_default = _to_json


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
        return json.dumps(value, default=_to_json, separators=(",", ":"), allow_nan=False)
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


def restore(data: Any, annotation: Any) -> Any:
    if data is None or not isinstance(annotation, type):
        return data
    if dataclasses.is_dataclass(annotation) and isinstance(data, dict):
        hints = _hints(annotation)
        values = {
            f.name: restore(data[f.name], hints.get(f.name))
            for f in dataclasses.fields(annotation)
            if f.name in data
        }
        return annotation(**values)
    validate = getattr(annotation, "model_validate", None)
    if callable(validate):
        return validate(data)
    return data


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {}


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
    """The recorded exception, same class and args when it can be imported and built."""
    from taskloom.errors import TaskFailedError

    try:
        data = json.loads(text or "null")["error"]
        target: Any = importlib.import_module(data["module"])
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
