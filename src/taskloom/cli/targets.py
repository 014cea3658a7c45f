"""Importing the user's workflow definitions: ``file.py:NAME`` and ``package.module:NAME``.

Shared by ``run`` and ``worker``, which must import exactly the same way so that
workflow versions (which hash module and code) match across processes.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from taskloom.cli.common import TARGET_FORMS, CliError


def load_target(target: str) -> tuple[ModuleType, str]:
    """Import the module a ``TARGET`` names and return it with the workflow name.

    ``TARGET`` is ``path/to/file.py:WORKFLOW`` or ``package.module:WORKFLOW``.
    Importing the module runs its ``WorkflowBuilder`` blocks, which register
    the workflows by name; this function does not check that ``WORKFLOW``
    exists, so that callers can decide how to report a missing one.

    A file is executed afresh on every call (a cached copy would not
    re-register its workflows after the registry was reset) under its stem as
    module name, with its directory put on ``sys.path`` so that sibling
    imports work. A module is imported normally, with the current directory
    on ``sys.path`` as ``python -m`` would have it.

    Raises :class:`CliError` naming the expected form when ``TARGET`` is
    malformed or names nothing importable, and with the traceback as detail
    when the module itself raises while being imported.
    """
    module_part, sep, workflow = target.rpartition(":")
    if not sep or not module_part.strip():
        raise CliError(
            f"TARGET {target!r} is missing its ':WORKFLOW' part; expected {TARGET_FORMS}"
        )
    if not workflow.strip() or _looks_like_path(workflow):
        # "C:\flows.py" splits at the drive colon: the "workflow" is really the path.
        raise CliError(f"TARGET {target!r} names no workflow after ':'; expected {TARGET_FORMS}")
    if _looks_like_path(module_part):
        return _load_file(target, Path(module_part)), workflow
    return _load_module(target, module_part), workflow


def _looks_like_path(text: str) -> bool:
    return text.endswith(".py") or "/" in text or os.sep in text


def _load_file(target: str, path: Path) -> ModuleType:
    path = path.expanduser()
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise CliError(f"TARGET {target!r}: file {str(path)!r} {problem}; expected {TARGET_FORMS}")
    path = path.resolve()
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = _module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"TARGET {target!r}: cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing, as importlib does, so that the module can be
    # found by dataclasses, pickle and circular sibling imports while it runs.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise _import_failure(target, str(path), exc) from exc
    return module


def _module_name_for(path: Path) -> str:
    """The stem, unless a *different* module (say the stdlib's ``json``) already has it.

    The name matters beyond cosmetics: it is part of each task's fingerprint
    and so of the workflow version that recovery compares, so the same file
    should get the same name in every process.
    """
    stem = re.sub(r"\W", "_", path.stem)
    if not stem.isidentifier():
        stem = f"_{stem}"
    existing = sys.modules.get(stem)
    existing_file = getattr(existing, "__file__", None) if existing is not None else None
    if existing is None or (existing_file is not None and Path(existing_file).resolve() == path):
        return stem
    return f"_taskloom_target_{stem}"


def _load_module(target: str, name: str) -> ModuleType:
    if not all(part.isidentifier() for part in name.split(".")):
        raise CliError(
            f"TARGET {target!r}: {name!r} is neither a module name nor a .py file; "
            f"expected {TARGET_FORMS}"
        )
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise CliError(
                f"TARGET {target!r}: no module named {missing!r} (searched the current "
                f"directory and sys.path); expected {TARGET_FORMS}"
            ) from None
        raise _import_failure(target, name, exc) from exc
    except Exception as exc:
        raise _import_failure(target, name, exc) from exc


def _import_failure(target: str, what: str, exc: Exception) -> CliError:
    detail = "".join(traceback.format_exception(exc))
    return CliError(
        f"TARGET {target!r}: importing {what!r} raised {type(exc).__name__}: {exc}",
        detail=detail,
    )


def import_workflows(spec: str) -> ModuleType:
    """Import a ``--import`` argument: a module name or a ``.py`` file."""
    if _looks_like_path(spec):
        return _load_file(spec, Path(spec))
    return _load_module(spec, spec)
