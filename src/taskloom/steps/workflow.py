"""``Workflow``: a named set of step handlers (grctl's authoring model).

Handlers are checked when they are decorated -- one start handler, async
functions, unique names -- so a mistake fails at import rather than in the
middle of a run. Workflows register by ``workflow_type`` so that recovery in
a new process can find the code of a recorded run.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from taskloom.errors import WorkflowValidationError
from taskloom.steps.binding import HandlerSignature
from taskloom.steps.directives import seconds_of

H = TypeVar("H", bound=Callable[..., Any])

_lock = threading.Lock()
_by_type: dict[str, Workflow] = {}


@dataclass(frozen=True, slots=True)
class StepDefinition:
    """One step handler with its options."""

    name: str
    fn: Callable[..., Any]
    timeout: float | None
    is_start: bool
    #: Its parameters after ``ctx``, with annotations (how payloads are bound).
    signature: HandlerSignature


class Workflow:
    """A durable step workflow: ``@wf.start()`` plus any ``@wf.step()`` handlers.

    Named ``taskloom.steps.Workflow`` so it does not clash with Cloaca's
    ``taskloom.Workflow`` (a DAG of tasks).
    """

    def __init__(self, workflow_type: str) -> None:
        if not isinstance(workflow_type, str) or not workflow_type.strip():
            raise ValueError(f"Workflow(workflow_type={workflow_type!r}): give a non-empty str")
        self.workflow_type = workflow_type
        self.steps: dict[str, StepDefinition] = {}
        self.start_step: StepDefinition | None = None
        #: Event name -> name of the step that handles it.
        self.events: dict[str, str] = {}
        #: Where ``ctx.logger`` writes (a worker's ``workflow_logger``; else
        #: ``taskloom.workflow.<type>``).
        self.logger: logging.Logger | None = None
        with _lock:
            _by_type[workflow_type] = self

    def __repr__(self) -> str:
        return f"<steps.Workflow {self.workflow_type!r}>"

    def start(self, timeout: timedelta | float | None = None) -> Callable[[H], H]:
        """Declare the handler that receives the workflow input. Exactly one per workflow.

        ``timeout``: a ``timedelta`` or seconds the handler may run (None: no limit).
        """

        def decorate(fn: H) -> H:
            if self.start_step is not None:
                raise WorkflowValidationError(
                    f"workflow {self.workflow_type!r} already has a start handler "
                    f"({self.start_step.name!r}); a workflow has exactly one @start()"
                )
            self.start_step = self._add(fn, timeout, is_start=True)
            return fn

        return decorate

    def step(
        self,
        timeout: timedelta | float | None = None,
        *,
        start: bool = False,
        event: bool = False,
        name: str | None = None,
    ) -> Callable[[H], H]:
        """Declare a step reachable with ``ctx.next.step(handler, **kwargs)``.

        ``timeout``: a ``timedelta`` or seconds. grctl's earlier spellings
        ``step(start=True)`` and ``step(event=True, name=...)`` mean
        :meth:`start` and :meth:`event`.
        """
        if start and event:
            raise ValueError("@wf.step(start=True, event=True): a step is one or the other")
        if start:
            return self.start(timeout)
        if event:
            return self.event(name, timeout=timeout)
        if name is not None:
            raise ValueError(f"@wf.step(name={name!r}): a step is named by its function")

        def decorate(fn: H) -> H:
            self._add(fn, timeout, is_start=False)
            return fn

        return decorate

    def event(
        self, name: str | None = None, *, timeout: timedelta | float | None = None
    ) -> Callable[[H], H]:
        """Declare the step that runs when event ``name`` arrives while the run waits.

        Without ``name`` the event is named after the function (grctl's
        rule). The handler gets the event payload like the start handler
        gets the input: a dict is spread over keyword parameters, anything
        else is one argument. It can also be the target of ``ctx.next.step``.
        """
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"@wf.event({name!r}): give the event name as a non-empty str")

        def decorate(fn: H) -> H:
            event_name = name if name is not None else getattr(fn, "__name__", "")
            if event_name in self.events:
                raise WorkflowValidationError(
                    f"workflow {self.workflow_type!r} already handles event {event_name!r} "
                    f"with step {self.events[event_name]!r}; one handler per event"
                )
            self.events[event_name] = self._add(fn, timeout, is_start=False).name
            return fn

        return decorate

    def _add(
        self, fn: Callable[..., Any], timeout: timedelta | float | None, *, is_start: bool
    ) -> StepDefinition:
        kind = "start" if is_start else "step"
        name = getattr(fn, "__name__", None)
        if not callable(fn) or not isinstance(name, str):
            raise TypeError(f"@{kind}() must decorate a function, got {fn!r}")
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"workflow {self.workflow_type!r}: step {name!r} must be an async function "
                "(async def handler(ctx, ...) -> Directive)"
            )
        if name in self.steps:
            raise WorkflowValidationError(
                f"workflow {self.workflow_type!r} already has a step named {name!r}; "
                "step names must be unique"
            )
        what = f"workflow {self.workflow_type!r}: step {name!r} timeout"
        try:
            seconds = seconds_of(timeout, what)
        except TypeError:
            seconds = -1.0
        if seconds is not None and seconds <= 0:
            raise ValueError(
                f"{what}={timeout!r}; give a positive timedelta or number of seconds, or None"
            )
        definition = StepDefinition(name, fn, seconds, is_start, HandlerSignature.of(fn))
        self.steps[name] = definition
        return definition

    def step_name(self, handler: Any) -> str:
        """The registered name of ``handler`` (a step function or its name)."""
        name = handler if isinstance(handler, str) else getattr(handler, "__name__", None)
        if not isinstance(name, str) or name not in self.steps:
            raise WorkflowValidationError(
                f"workflow {self.workflow_type!r} has no step {handler!r}; "
                "decorate it with @wf.step()"
            )
        return name

    def check_input(self, data: Any) -> None:
        """Refuse, before anything is recorded, an input the start handler cannot take.

        (Otherwise the run would be accepted and fail later, in its first step.)
        """
        step = self.require_start()
        args, kwargs = handler_arguments(data)
        signature = _signature(step.fn)
        if signature is None:
            return
        try:
            signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            takes = [
                p.name if p.kind is not p.VAR_KEYWORD else f"**{p.name}"
                for p in list(signature.parameters.values())[1:]
            ]
            raise TypeError(
                f"workflow {self.workflow_type!r}: its start handler {step.name!r} cannot take "
                f"this input ({exc}); it takes {', '.join(takes) or 'no input'} -- a dict input "
                "is spread over its keyword parameters, any other value is one argument"
            ) from None

    def require_start(self) -> StepDefinition:
        if self.start_step is None:
            raise WorkflowValidationError(
                f"workflow {self.workflow_type!r} has no start handler; add one with @wf.start()"
            )
        return self.start_step


def lookup_workflow(workflow_type: str) -> Workflow | None:
    """The workflow registered under ``workflow_type`` in this process."""
    with _lock:
        return _by_type.get(workflow_type)


def registered_workflows() -> list[Workflow]:
    """Every step workflow defined in this process (what a worker offers to run)."""
    with _lock:
        return list(_by_type.values())


def handler_arguments(data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """How an input or event payload reaches a handler.

    A dict is spread over keyword parameters; None means no argument;
    anything else is one positional argument.
    """
    if data is None:
        return (), {}
    if isinstance(data, dict):
        return (), dict(data)
    return (data,), {}


@functools.lru_cache(maxsize=1024)
def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    """A handler's signature, computed once (a run's start checks its input with it)."""
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None
