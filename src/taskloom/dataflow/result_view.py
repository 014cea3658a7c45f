"""The caller's view of a flow result under ``continue``: failures in place.

The recorded result of a flow run is JSON-able, so a failed call's place in
it holds ``None``. auto_workflow's ``CONTINUE`` policy hands the caller the
failure itself there (an object with ``task_name``), which tells "failed"
apart from "returned None". :func:`failures_in_place` walks the flow body's
returned template beside the decoded result and puts each failed call's
:class:`~taskloom.errors.TaskExecutionError` where its node stood; nothing
is recorded differently.
"""

from __future__ import annotations

from typing import Any

from taskloom.dataflow.flow import Node


def failures_in_place(template: Any, value: Any, errors: dict[str, BaseException]) -> Any:
    """``value`` with the error of every failed node ``template`` names at its place."""
    return _walk(template, value, errors)


def _walk(template: Any, value: Any, errors: dict[str, BaseException]) -> Any:
    if isinstance(template, Node):
        return errors.get(template.key, value)
    if isinstance(template, list) and isinstance(value, list) and len(value) == len(template):
        return [_walk(t, v, errors) for t, v in zip(template, value, strict=True)]
    if isinstance(template, tuple) and isinstance(value, tuple) and len(value) == len(template):
        items = [_walk(t, v, errors) for t, v in zip(template, value, strict=True)]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(template, dict) and isinstance(value, dict):
        return {
            k: _walk(template.get(k), v, errors) if k in template else v for k, v in value.items()
        }
    return value
