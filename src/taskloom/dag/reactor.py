"""Cloaca's reactors: ``@reactor`` classes and ``@passthrough_accumulator`` functions.

A reactor names the accumulators that feed a computation graph and when
the graph fires: ``mode="when_any"`` (every value pushed fires it) or
``"when_all"`` (it fires once every accumulator received a value since the
last firing). The decorated class carries Cloaca's ``NAME``,
``ACCUMULATORS`` and ``REACTION_MODE`` attributes and is what a
``ComputationGraphBuilder(..., reactor=Cls)`` takes. Values are pushed with
``DefaultRunner.push`` (see :mod:`taskloom.dag.reactor_runs`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "MODES",
    "ReactorSpec",
    "accumulator_transform",
    "passthrough_accumulator",
    "reactor",
    "reactor_spec",
]

MODES = ("when_any", "when_all")

C = TypeVar("C", bound=type)


@dataclass(frozen=True, slots=True)
class ReactorSpec:
    """A reactor's name, its accumulators (in order) and its reaction mode."""

    name: str
    accumulators: tuple[str, ...]
    mode: str


_lock = threading.Lock()
_transforms: dict[str, Callable[[Any], Any]] = {}


def reactor(
    name: str | None = None,
    /,
    *,
    accumulators: Sequence[str] | None = None,
    mode: str = "when_any",
    **named: Any,
) -> Callable[[C], C]:
    """``@reactor(name=..., accumulators=[...], mode="when_any"|"when_all")`` on a class."""
    if "name" in named:
        if name is not None:
            raise TypeError("@cloaca.reactor got name twice; give it once")
        name = named.pop("name")
    if named:
        raise TypeError(f"@cloaca.reactor got unexpected argument(s): {', '.join(named)}")
    if isinstance(name, type):
        raise TypeError(
            f"@cloaca.reactor needs its arguments: write @cloaca.reactor(name=..., "
            f"accumulators=[...], mode='when_any') above class {name.__name__}"
        )
    if not isinstance(name, str) or not name:
        raise ValueError("@cloaca.reactor: 'name' cannot be empty; give the reactor a name")
    if isinstance(accumulators, str) or not accumulators:
        raise ValueError(
            f"@cloaca.reactor: 'accumulators' list cannot be empty (reactor {name!r}); "
            "list the accumulator names, e.g. accumulators=['orderbook']"
        )
    names = list(accumulators)
    for acc in names:
        if not isinstance(acc, str) or not acc:
            raise ValueError(f"@cloaca.reactor {name!r}: accumulator names must be non-empty str")
    for acc in names:
        if names.count(acc) > 1:
            raise ValueError(f"@cloaca.reactor: accumulator '{acc}' listed more than once")
    if mode not in MODES:
        raise ValueError(
            f"@cloaca.reactor: unknown mode '{mode}', expected 'when_any' or 'when_all' "
            f"(reactor {name!r})"
        )
    reactor_name = name

    def decorate(cls: C) -> C:
        if not isinstance(cls, type):
            raise TypeError(
                f"@cloaca.reactor must be applied to a class (e.g. `class Rx: pass`), got {cls!r}"
            )
        cls.NAME = reactor_name  # type: ignore[attr-defined]
        cls.ACCUMULATORS = list(names)  # type: ignore[attr-defined]
        cls.REACTION_MODE = mode  # type: ignore[attr-defined]
        return cls

    return decorate


def reactor_spec(obj: Any) -> ReactorSpec:
    """The spec of a ``@reactor`` class (or of a spec); ``TypeError`` for anything else."""
    if isinstance(obj, ReactorSpec):
        return obj
    name = getattr(obj, "NAME", None)
    accumulators = getattr(obj, "ACCUMULATORS", None)
    mode = getattr(obj, "REACTION_MODE", None)
    if not isinstance(name, str) or not isinstance(accumulators, list | tuple) or mode not in MODES:
        raise TypeError(
            "ComputationGraphBuilder(reactor=...) expects a class decorated with "
            f"@cloaca.reactor (must expose NAME / ACCUMULATORS / REACTION_MODE), got {obj!r}"
        )
    return ReactorSpec(name, tuple(str(a) for a in accumulators), str(mode))


def passthrough_accumulator(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Cloaca's ``@passthrough_accumulator``: turns each pushed event into the accumulator's value.

    The function's name is the accumulator's name; it runs once per push, in
    the pushing process, and what it returns (JSON) is what is recorded and
    what the graph's entry node receives. Returned unchanged.
    """
    name = getattr(fn, "__name__", None)
    if not callable(fn) or not isinstance(name, str):
        raise TypeError(f"@passthrough_accumulator must decorate a function, got {fn!r}")
    with _lock:
        _transforms[name] = fn
    return fn


def accumulator_transform(name: str) -> Callable[[Any], Any] | None:
    """The ``@passthrough_accumulator`` function of accumulator ``name``, if one is declared."""
    with _lock:
        return _transforms.get(name)
