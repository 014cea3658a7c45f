"""The registry through which authoring styles plug into the style-independent rooms.

The engine resumes runs, the distributed client submits them and workers
serve them, for every style, without importing one: each style registers
here how to rebuild a run's plan (its *planner*), how to turn what a user
hands the client into a plan (a *submitter*), and which plans a worker
serves for one of its constructor options. The package's ``__init__``
installs the loader that imports the styles' plug-in modules the first time
any of this is asked for, so a worker started from a bare script still
knows every style.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from taskloom.journal.base import Journal

if TYPE_CHECKING:
    from taskloom.core.plan import Plan
    from taskloom.journal.records import RunRecord


class PlanHost(Protocol):
    """What a planner may use of whoever asks it for a plan.

    An engine (resuming a local run) or a distributed worker (planning a run
    it claimed a task of): both record in ``journal`` and have a default task
    timeout.
    """

    @property
    def journal(self) -> Journal: ...

    @property
    def task_timeout(self) -> float | None: ...


#: Rebuilds a recorded run's plan (None: this process cannot).
Planner = Callable[["RunRecord", PlanHost], "Plan | None"]
#: ``(what the user named, the run's input) -> (plan, input JSON)``.
Submitter = Callable[[Any, Any], "tuple[Plan, str]"]
#: A worker option's value -> (plans served whole, per-run keys ``(kind, name, version)``).
Served = Callable[[Any], "tuple[list[Plan], list[tuple[str, str, str]]]"]

_lock = threading.Lock()
_planners: dict[str, Planner] = {}
_submitters: dict[str, Submitter] = {}
_served: dict[str, Served] = {}
_starters: dict[str, Callable[..., Any]] = {}
_keepers: list[Callable[[Journal], set[str]]] = []
_sweepers: list[Callable[[list[str]], int]] = []
_loader: Callable[[], None] | None = None
_loaded = False


def install_loader(loader: Callable[[], None]) -> None:
    """Set what imports every style's plug-in (the package ``__init__`` does)."""
    global _loader
    _loader = loader


def load_styles() -> None:
    """Import every style's plug-in once, so its registrations below exist."""
    global _loaded
    if _loaded or _loader is None:
        return
    with _lock:
        if not _loaded:
            _loader()
            _loaded = True


def register_planner(kind: str, planner: Planner) -> None:
    """Teach every engine and worker how to resume runs of ``kind``."""
    _planners[kind] = planner


def planner_for(kind: str) -> Planner | None:
    """The planner registered for runs of ``kind``."""
    planner = _planners.get(kind)
    if planner is None:
        load_styles()
        planner = _planners.get(kind)
    return planner


def register_submitter(kind: str, submitter: Submitter) -> None:
    """How the distributed client turns ``kind``'s user-facing target into a plan."""
    _submitters[kind] = submitter


def submitter(kind: str) -> Submitter:
    load_styles()
    found = _submitters.get(kind)
    if found is None:  # pragma: no cover - every style registers at import
        raise RuntimeError(f"no style registered submissions of kind {kind!r}")
    return found


def register_starter(kind: str, starter: Callable[..., Any]) -> None:
    """How the distributed client starts a run of ``kind`` from a style's own target
    (``Client.start_flow``: a flow, its arguments), returning the style's handle."""
    _starters[kind] = starter


def starter(kind: str) -> Callable[..., Any]:
    load_styles()
    found = _starters.get(kind)
    if found is None:  # pragma: no cover - every style registers at import
        raise RuntimeError(f"no style registered starting runs of kind {kind!r}")
    return found


def register_served(option: str, served: Served) -> None:
    """What a worker serves for its constructor option ``option`` (``workflows=`` ...)."""
    _served[option] = served


def served(options: Mapping[str, Any]) -> tuple[list[Plan], list[tuple[str, str, str]]]:
    """Every style's contribution to a worker, given the worker's options."""
    load_styles()
    static: list[Plan] = []
    per_run: list[tuple[str, str, str]] = []
    for option, contribute in _served.items():
        plans, keys = contribute(options.get(option))
        static.extend(plans)
        per_run.extend(keys)
    return static, per_run


def register_keeper(keeper: Callable[[Journal], set[str]]) -> None:
    """Retention asks ``keeper(journal)`` for ended runs that must stay (a child
    whose parent still runs reads its result from the child's run)."""
    _keepers.append(keeper)


def runs_to_keep(journal: Journal) -> set[str]:
    load_styles()
    kept: set[str] = set()
    for keeper in _keepers:
        kept |= keeper(journal)
    return kept


def register_sweeper(sweeper: Callable[[list[str]], int]) -> None:
    """Retention hands ``sweeper`` the recorded outputs of deleted tasks; it removes
    what they pointed to outside the journal (artifact files) and says how many."""
    _sweepers.append(sweeper)


def sweep_outputs(outputs: list[str]) -> int:
    load_styles()
    return sum(sweeper(outputs) for sweeper in _sweepers)
