"""``taskloom run module:flow_name --params JSON``: the CLI side of ``@flow``.

Kept apart from :mod:`taskloom.cli` because running a flow differs from
running a Cloaca workflow in every step that matters here: the target is a
module attribute rather than a registry entry, the input is keyword
arguments rather than a context, and the outcome is the flow's value or the
task's own exception rather than a ``WorkflowResult``.
"""

from __future__ import annotations

import inspect
import json
import sys
from types import ModuleType
from typing import Any

from taskloom.cli.common import EXIT_OK, EXIT_RUN_FAILED, CliError
from taskloom.dataflow.flow import Flow, lookup_flow


def find_flow(module: ModuleType, name: str) -> Flow[Any, Any] | None:
    """The ``@flow`` a target names: the module's attribute, else a flow defined by that name."""
    candidate = getattr(module, name, None)
    if isinstance(candidate, Flow):
        return candidate
    return lookup_flow(name) if candidate is None else None


def run_flow_command(
    flow: Flow[Any, Any], params: dict[str, Any], db: str | None, *, as_json: bool
) -> int:
    """Run ``flow(**params)`` on ``db`` and print its value; 1 if a task failed."""
    from taskloom.core.shared_engines import shutdown_engines

    try:
        inspect.signature(flow.fn).bind(**params)
    except TypeError as exc:
        raise CliError(f"--params do not fit flow {flow.name!r}{_signature(flow)}: {exc}") from None
    except ValueError:
        pass  # no introspectable signature: let the call itself complain
    try:
        value = flow.run(params=params, db=db)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        if as_json:
            _print({"flow": flow.name, "status": "Failed", "error": message})
        else:
            sys.stderr.write(f"taskloom run: flow {flow.name!r} failed: {message}\n")
        return EXIT_RUN_FAILED
    finally:
        shutdown_engines()
    if as_json:
        _print({"flow": flow.name, "status": "Completed", "result": value})
    else:
        _print(value)
    return EXIT_OK


def _signature(flow: Flow[Any, Any]) -> str:
    try:
        return str(inspect.signature(flow.fn))
    except (TypeError, ValueError):
        return ""


def _print(document: Any) -> None:
    """As JSON (tuples become lists); what JSON cannot hold (sets, objects) through ``repr``."""
    print(json.dumps(document, indent=2, default=repr))
