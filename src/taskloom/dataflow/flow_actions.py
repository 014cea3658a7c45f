"""What a ``Flow``'s convenience methods call: running, submitting, describing it.

``flow.run()``, ``flow.submit()`` and ``flow.describe()`` are the flow's own
API, but the machinery behind them lives in modules that import the flow
definition (``runner``, ``remote``, ``introspect``). They register their
functions here when imported, so the definition imports none of them and
the dataflow room has no import cycle; the style's plug-in
(:mod:`taskloom.dataflow.serving`) imports them all, and an action asked for
before that happened loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from taskloom.core import styles

_actions: dict[str, Callable[..., Any]] = {}


def register(name: str, action: Callable[..., Any]) -> None:
    """Make ``action`` what ``Flow`` calls for ``name`` (``"run"``, ``"submit"``, ...)."""
    _actions[name] = action


def action(name: str) -> Callable[..., Any]:
    """The function registered for ``name``, loading the style's plug-in if needed."""
    found = _actions.get(name)
    if found is None:
        styles.load_styles()
        found = _actions.get(name)
    if found is None:  # pragma: no cover - dataflow/serving.py imports every provider
        raise RuntimeError(f"no flow action {name!r} is registered (is taskloom installed whole?)")
    return found
