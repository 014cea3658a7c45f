"""Durable functions: ``@workflow`` on a function that calls tasks.

A durable function *is* a one-step workflow: its start handler calls the
function and completes with its return value. Building it on the step
machinery, rather than beside it, means journaling, replay after a crash,
recovery by any runner on the database, the client API, ``ctx`` helpers
and child workflows all behave exactly as they do for step workflows.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from taskloom.errors import WorkflowValidationError
from taskloom.steps import step_context
from taskloom.steps.codec import encode_result, restore, return_type
from taskloom.steps.context import StepContext
from taskloom.steps.directives import Directive
from taskloom.steps.sync_bridge import SyncBridge, run_sync_body
from taskloom.steps.workflow import Workflow, handler_arguments, lookup_workflow

if TYPE_CHECKING:
    from taskloom.steps.client import WorkflowHandle

R = TypeVar("R")

#: The name of the optional parameter that receives the context.
CTX = "ctx"

_lock = threading.Lock()
_functions: dict[str, DurableFunction[Any]] = {}


class DurableFunction(Generic[R]):
    """A function run durably: task calls journaled, re-executed after a crash.

    Calling it runs it as a new durable run on the default database and
    returns its result (an awaitable for an ``async def``, as the function
    itself would). Inside a running workflow, calling it runs it as a child
    workflow instead. :meth:`start` / :meth:`run` choose the id and database.
    """

    def __init__(self, fn: Callable[..., R], name: str, timeout: float | None) -> None:
        _check_function(fn, name)
        self.fn = fn
        self.name = name
        self.is_async = inspect.iscoroutinefunction(fn)
        signature = inspect.signature(fn)
        self.wants_ctx = CTX in signature.parameters
        self.signature = signature.replace(
            parameters=[p for p in signature.parameters.values() if p.name != CTX]
        )
        functools.update_wrapper(self, fn)
        with _lock:
            _claim(name, fn)
            self.workflow = Workflow(workflow_type=name)
            _functions[name] = self
        self.workflow.start(timeout=timeout)(self._start_handler())

    def __repr__(self) -> str:
        return f"<durable function {self.name!r}>"

    def _start_handler(self) -> Callable[..., Any]:
        async def start(ctx: StepContext, *args: Any, **kwargs: Any) -> Directive:
            call = self.arguments(args, kwargs)
            if self.is_async:
                if self.wants_ctx:
                    call[CTX] = ctx
                value = await self.fn(**call)  # type: ignore[misc]
            else:
                value = await run_sync_body(ctx, self.fn, call, self.wants_ctx)
            # Recorded as JSON data; a dataclass or model comes back as its fields
            # and is rebuilt from the return annotation by direct calls.
            data = json.loads(encode_result(value, f"durable function {self.name!r}"))
            return ctx.next.complete(data)

        # The step is recorded under the function's name (``s000:<name>``).
        start.__name__ = getattr(self.fn, "__name__", self.name)
        return start

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments as keywords: how they are recorded as the run's input."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            names = ", ".join(self.signature.parameters) or "none"
            raise TypeError(
                f"durable function {self.name!r}: {exc} (its parameters: {names})"
            ) from None
        call: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if self.signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                call.update(value)
            else:
                call[name] = value
        if self.wants_ctx and CTX in call:
            raise TypeError(
                f"durable function {self.name!r}: {CTX!r} is the context parameter; "
                "it cannot be passed in the input"
            )
        return call

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        call = self.arguments(args, kwargs)
        recorder = step_context.current_recorder()
        if isinstance(recorder, SyncBridge):
            # Inside a sync durable function every call returns its value.
            value = recorder.run(lambda: recorder.ctx.run_child(self.workflow, input=call))
            result: R = self._decode(value)
            return result
        if self.is_async:
            coroutine: R = self._call_async(call, recorder)  # type: ignore[assignment]
            return coroutine
        if recorder is not None:
            raise TypeError(
                f"durable function {self.name!r} is sync and cannot block inside a step; "
                f"use `await ctx.run_child({self.name!r}, input={{...}})`"
            )
        return self.run(input=call)  # type: ignore[no-any-return]

    async def _call_async(self, call: dict[str, Any], recorder: object) -> Any:
        if isinstance(recorder, StepContext):
            return self._decode(await recorder.run_child(self.workflow, input=call))
        handle = await asyncio.to_thread(self.start, None, call)
        return self._decode(await asyncio.to_thread(handle.result))

    def _decode(self, value: Any) -> Any:
        return restore(value, return_type(self.fn))

    def start(
        self,
        workflow_id: str | None = None,
        input: Any = None,
        *,
        db: str | None = None,
        if_running: Literal["error", "return"] = "error",
    ) -> WorkflowHandle:
        """Start a run and return its handle at once (``Client(db).start_workflow``).

        ``input`` is a dict of the function's keyword arguments (or one value
        for a one-parameter function), exactly as with the client API.
        """
        from taskloom.steps.client import Client

        self.arguments(*handler_arguments(input))  # a wrong input fails here, not in the run
        return Client(db).start_workflow(self.workflow, workflow_id, input, if_running=if_running)

    def run(
        self,
        workflow_id: str | None = None,
        input: Any = None,
        *,
        db: str | None = None,
        timeout: float | timedelta | None = None,
    ) -> Any:
        """Start a run and wait for its result (rebuilt from the return annotation)."""
        return self._decode(self.start(workflow_id, input, db=db).result(timeout))


def _check_function(fn: Any, name: str) -> None:
    """Refuse, at decoration, what could not be recorded or replayed."""
    if not inspect.isfunction(fn):
        raise TypeError(
            f"@workflow must decorate a function (def or async def), got {fn!r}; "
            "for a class of step handlers use taskloom.steps.Workflow"
        )
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"durable function {name!r}: generators cannot be durable functions")
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
            raise TypeError(
                f"durable function {name!r}: parameter {parameter} cannot be given by keyword; "
                "the input is recorded as keyword arguments"
            )


def _claim(name: str, fn: Callable[..., Any]) -> None:
    """Refuse a workflow name already in use, unless the same function is re-decorated.

    Re-decorating the same function (a module imported twice, e.g. as
    ``__main__`` and by name) replaces it; anything else is a mistake that
    would make recovery run the wrong code for a recorded run.
    """
    if lookup_workflow(name) is None:
        return
    previous = _functions.get(name)
    if previous is not None and _where(previous.fn) == _where(fn):
        return
    owner = f"durable function {_where(previous.fn)}" if previous else "a step workflow"
    raise WorkflowValidationError(
        f"workflow name {name!r} is already used by {owner}; "
        "give this one another name with @workflow(name=...)"
    )


def _where(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


@overload
def workflow(fn: Callable[..., R], /) -> DurableFunction[R]: ...


@overload
def workflow(
    fn: None = None, /, *, name: str | None = None, timeout: float | timedelta | None = None
) -> Callable[[Callable[..., R]], DurableFunction[R]]: ...


def workflow(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | timedelta | None = None,
) -> Any:
    """Make a function durable: ``@workflow`` or ``@workflow(name=..., timeout=...)``.

    ``name`` is the workflow type the client starts it by (default: the
    function's name); ``timeout`` bounds one execution (seconds or a ``timedelta``).
    """
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"@workflow(name={name!r}): give a non-empty str")
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        # Checked before anything is registered, so a bad option leaves no half-made workflow.
        raise ValueError(
            f"@workflow(timeout={timeout!r}): give a positive number of seconds or a timedelta"
        )

    def decorate(func: Callable[..., Any]) -> DurableFunction[Any]:
        return DurableFunction(func, name or str(getattr(func, "__name__", "")), timeout)

    if fn is not None:
        return decorate(fn)
    return decorate


#: ``taskloom.durable``: the same decorator under a name that does not clash
#: with Cloaca's ``taskloom.Workflow``.
durable = workflow
