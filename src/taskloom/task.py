"""The ``@task`` decorator: one decorator for every authoring style.

A decorated function becomes a :class:`TaskDefinition` -- the function plus
its normalised options -- and stays callable with its original signature.
Options are checked here, at decoration time, so a typo fails at import
rather than in the middle of a run.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import types
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

from taskloom.core import calls, known_types, registry
from taskloom.core.codec import check_serializer
from taskloom.dag.triggers import TriggerRule, all_of, from_dict
from taskloom.retry import RetryPolicy

if TYPE_CHECKING:
    from taskloom.dag.computation_graph import ComputationGraph

P = ParamSpec("P")
R = TypeVar("R")

#: A second parameter with one of these names receives a ``TaskHandle``.
HANDLE_PARAMETER_NAMES = ("handle", "task_handle")

#: auto_workflow's execution modes.
RUN_IN_CHOICES = ("async", "thread", "process")


class TaskDefinition(Generic[P, R]):
    """A task: the user's function plus the options it was declared with.

    Calling it depends on where and how it was declared:

    * inside a step of a durable step workflow it returns an awaitable that
      journals the call as an operation (replayed after a crash);
    * inside a ``@flow`` body it records a call and returns a ``Node``;
    * a Cloaca task (Cloaca-only options, or declared in a ``WorkflowBuilder``)
      calls the function directly (``my_task(Context())`` runs the body), which
      is how Cloaca users unit-test their tasks;
    * any other task runs at once honouring its retries, timeout, cache and
      persistence, as auto_workflow does.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        task_id: str,
        dependencies: tuple[str, ...],
        retry: RetryPolicy | None,
        timeout: float | None,
        on_success: Callable[..., Any] | None,
        on_failure: Callable[..., Any] | None,
        trigger_rule: TriggerRule | None,
        priority: int,
        run_in: str = "async",
        cache_ttl: float | None = None,
        cache_key_fn: Callable[..., Any] | None = None,
        persist: bool = False,
        cloaca_style: bool = False,
        serializer: str = "json",
        tags: tuple[str, ...] = (),
        invokes: ComputationGraph | None = None,
        post_invocation: Callable[..., Any] | None = None,
    ) -> None:
        self.fn = fn
        #: The trigger-less computation graph run after the body (Cloaca's ``invokes=``).
        self.invokes = invokes
        self.post_invocation = post_invocation
        self.task_id = task_id
        self.dependencies = dependencies
        self.explicit_retry = retry
        self.timeout = timeout
        self.on_success = on_success
        self.on_failure = on_failure
        self.trigger_rule = trigger_rule
        self.priority = priority
        self.run_in = run_in
        self.cache_ttl = cache_ttl
        self.cache_key_fn = cache_key_fn
        self.persist = persist
        #: "json" (the safe codec) or "pickle" (signed pickles for values it cannot record).
        self.serializer = serializer
        #: Free-form labels (auto_workflow's ``tags``): shown by ``describe()``.
        self.tags = tags
        self.is_async = inspect.iscoroutinefunction(fn)
        self.handle_parameter = _handle_parameter(fn)
        #: Called outside a flow, a Cloaca task runs its bare function.
        self.cloaca_style = cloaca_style or self.handle_parameter is not None
        functools.update_wrapper(self, fn)

    @property
    def id(self) -> str:
        """Cloaca's name for :attr:`task_id`."""
        return self.task_id

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy used when the task runs inside a workflow.

        Cloaca gives builder tasks 3 attempts with exponential backoff unless
        told otherwise, so that is the default here too.
        """
        if self.explicit_retry is not None:
            return self.explicit_retry
        return _CLOACA_DEFAULT_RETRY

    @property
    def dataflow_retry(self) -> RetryPolicy:
        """The policy in a flow or an immediate call: auto_workflow's default is no retry."""
        if self.explicit_retry is not None:
            return self.explicit_retry
        return _SINGLE_ATTEMPT

    @property
    def name(self) -> str:
        """auto_workflow's name for the task id."""
        return self.task_id

    @property
    def retries(self) -> int:
        """Extra attempts in a flow or an immediate call (auto_workflow's ``retries``)."""
        return self.dataflow_retry.max_attempts - 1

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        handler = calls.current_handler()
        if handler is not None:
            return cast(R, handler(self, args, dict(kwargs)))
        if self.cloaca_style:
            return self.fn(*args, **kwargs)
        return cast(R, calls.call_outside(self, args, dict(kwargs)))

    def __repr__(self) -> str:
        return f"<task {self.task_id!r}>"

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this task's behaviour, for a workflow's version hash."""
        code = getattr(self.fn, "__code__", None)
        code_hash = ""
        if isinstance(code, types.CodeType):
            digest = hashlib.sha256()
            _hash_code(code, digest)
            code_hash = digest.hexdigest()[:16]
        fingerprint = {
            "id": self.task_id,
            "fn": f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', '?')}",
            "code": code_hash,
            "retry": self.retry_policy.to_dict(),
            "timeout": self.timeout,
            "trigger": self.trigger_rule.to_dict() if self.trigger_rule else None,
            "priority": self.priority,
        }
        if self.invokes is not None:
            fingerprint["invokes"] = self.invokes.fingerprint()
            post = self.post_invocation
            fingerprint["post_invocation"] = (
                None if post is None else f"{post.__module__}.{post.__qualname__}"
            )
        return fingerprint


_CLOACA_DEFAULT_RETRY = RetryPolicy.from_cloaca_options()
_SINGLE_ATTEMPT = RetryPolicy.single()


def _hash_code(code: types.CodeType, digest: Any) -> None:
    """Feed what a function does into ``digest``: bytecode, constants, names.

    Nested code objects (lambdas, comprehensions) are hashed recursively
    because their ``repr`` contains a memory address that differs per process.
    """
    digest.update(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code(const, digest)
        elif isinstance(const, frozenset):  # set order varies with hash randomisation
            digest.update(repr(sorted(map(repr, const))).encode())
        else:
            digest.update(repr(const).encode())


def _handle_parameter(fn: Callable[..., Any]) -> str | None:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if len(params) >= 2 and params[1].name in HANDLE_PARAMETER_NAMES:
        return params[1].name
    return None


@overload
def task(func: Callable[P, R], /) -> TaskDefinition[P, R]: ...


@overload
def task(
    func: None = None,
    /,
    *,
    id: str | None = None,
    name: str | None = None,
    dependencies: Iterable[str | TaskDefinition[Any, Any] | Callable[..., Any]] | None = None,
    retry: RetryPolicy | None = None,
    retry_policy: RetryPolicy | None = None,
    retry_attempts: int | None = None,
    retry_backoff: str | float | None = None,
    retry_delay_ms: int | float | None = None,
    retry_max_delay_ms: int | float | None = None,
    retry_condition: str | None = None,
    retry_jitter: bool | float | None = None,
    retries: int | None = None,
    timeout: float | timedelta | None = None,
    on_success: Callable[..., Any] | None = None,
    on_failure: Callable[..., Any] | None = None,
    trigger_rules: TriggerRule | Iterable[TriggerRule] | dict[str, Any] | None = None,
    priority: int = 0,
    run_in: str = "async",
    cache_ttl: float | None = None,
    cache_key_fn: Callable[..., Any] | None = None,
    persist: bool = False,
    tags: Iterable[str] = (),
    invokes: Any = None,
    post_invocation: Callable[..., Any] | None = None,
    serializer: str = "json",
) -> Callable[[Callable[P, R]], TaskDefinition[P, R]]: ...


def task(
    func: Callable[..., Any] | None = None,
    /,
    *,
    id: str | None = None,
    name: str | None = None,
    dependencies: Iterable[str | TaskDefinition[Any, Any] | Callable[..., Any]] | None = None,
    retry: RetryPolicy | None = None,
    retry_policy: RetryPolicy | None = None,
    retry_attempts: int | None = None,
    retry_backoff: str | float | None = None,
    retry_delay_ms: int | float | None = None,
    retry_max_delay_ms: int | float | None = None,
    retry_condition: str | None = None,
    retry_jitter: bool | float | None = None,
    retries: int | None = None,
    timeout: float | timedelta | None = None,
    on_success: Callable[..., Any] | None = None,
    on_failure: Callable[..., Any] | None = None,
    trigger_rules: TriggerRule | Iterable[TriggerRule] | dict[str, Any] | None = None,
    priority: int = 0,
    run_in: str = "async",
    cache_ttl: float | None = None,
    cache_key_fn: Callable[..., Any] | None = None,
    persist: bool = False,
    tags: Iterable[str] = (),
    invokes: Any = None,
    post_invocation: Callable[..., Any] | None = None,
    serializer: str = "json",
) -> Any:
    """Declare a task. Usable bare (``@task``) or with options (``@task(id=...)``).

    Inside an open ``WorkflowBuilder`` block the task joins that workflow.
    Every task is also registered by id so ``WorkflowBuilder.add_task("id")``
    finds it. ``run_in``, ``cache_ttl``, ``cache_key_fn`` and ``persist`` are
    auto_workflow's options; they are checked when the function is decorated,
    so their errors can name the task. ``serializer="pickle"`` lets a flow
    task's values the safe codec cannot record be pickled, signed with the
    key of ``$TASKLOOM_PICKLE_KEY`` (docs/reliability.md).
    """
    if id is not None and name is not None and id != name:
        raise ValueError(f"@task got id={id!r} and name={name!r}; give one of them")
    policy = _resolve_retry(
        retry=retry,
        retry_policy=retry_policy,
        retry_attempts=retry_attempts,
        retry_backoff=retry_backoff,
        retry_delay_ms=retry_delay_ms,
        retry_max_delay_ms=retry_max_delay_ms,
        retry_condition=retry_condition,
        retry_jitter=retry_jitter,
        retries=retries,
    )
    rule = _resolve_trigger(trigger_rules)
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not timeout > 0
        or timeout == float("inf")
    ):
        raise ValueError(
            f"@task timeout={timeout!r}: give a positive number of seconds, a timedelta or None"
        )
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"@task priority={priority!r}: priority must be an int")
    for label, callback in (("on_success", on_success), ("on_failure", on_failure)):
        if callback is not None and not callable(callback):
            raise TypeError(f"@task {label}={callback!r} is not callable; pass a function")

    cloaca_only = (
        id is not None
        or dependencies is not None
        or trigger_rules is not None
        or on_success is not None
        or on_failure is not None
        or isinstance(retry_backoff, str)
        or isinstance(retry_jitter, bool)
        or any(
            v is not None
            for v in (retry_attempts, retry_delay_ms, retry_max_delay_ms, retry_condition)
        )
    )

    def decorate(fn: Callable[..., Any]) -> TaskDefinition[Any, Any]:
        if isinstance(fn, TaskDefinition):
            fn = fn.fn
        if not callable(fn):
            raise TypeError(f"@task must decorate a function, got {type(fn).__name__}")
        task_id = id if id is not None else name if name is not None else fn.__name__
        if not isinstance(task_id, str) or not task_id.strip():
            raise ValueError(f"@task id={task_id!r}: a task id must be a non-empty str")
        _check_dataflow_options(task_id, run_in, cache_ttl, cache_key_fn, persist)
        graph = _invoked_graph(task_id, invokes, post_invocation)
        check_serializer(f"task {task_id!r}", serializer)
        known_types.note_annotations(fn)
        builder = registry.current_builder()
        definition: TaskDefinition[Any, Any] = TaskDefinition(
            fn,
            task_id=task_id,
            dependencies=_dependency_ids(task_id, dependencies),
            retry=policy,
            timeout=float(timeout) if timeout is not None else None,
            on_success=on_success,
            on_failure=on_failure,
            trigger_rule=rule,
            priority=priority,
            run_in=run_in,
            cache_ttl=float(cache_ttl) if cache_ttl is not None else None,
            cache_key_fn=cache_key_fn,
            persist=persist,
            serializer=serializer,
            tags=_tags(task_id, tags),
            cloaca_style=cloaca_only or builder is not None,
            invokes=graph,
            post_invocation=post_invocation,
        )
        registry.register_task(definition)
        if builder is not None:
            builder.add_task(definition)
        return definition

    if func is not None:
        return decorate(func)
    return decorate


def _invoked_graph(task_id: str, invokes: Any, post_invocation: Any) -> ComputationGraph | None:
    """Check Cloaca's ``invokes=`` / ``post_invocation=`` at decoration time."""
    if post_invocation is not None and invokes is None:
        raise ValueError(
            f"@cloaca.task: `post_invocation` requires `invokes=...` to be set (task "
            f"{task_id!r}); pass invokes=<ComputationGraphBuilder> or drop post_invocation"
        )
    if invokes is None:
        return None
    if post_invocation is not None and not callable(post_invocation):
        raise TypeError(
            f"task {task_id!r}: post_invocation={post_invocation!r} is not callable; pass a "
            "function taking the task's context"
        )
    from taskloom.dag.computation_graph import resolve_invoked

    return resolve_invoked(task_id, invokes)


def _check_dataflow_options(
    task_id: str,
    run_in: Any,
    cache_ttl: Any,
    cache_key_fn: Any,
    persist: Any,
) -> None:
    """Reject bad auto_workflow options at decoration time, naming the task."""
    if run_in not in RUN_IN_CHOICES:
        raise ValueError(
            f"task {task_id!r}: run_in={run_in!r} is not an execution mode; "
            f"use one of {', '.join(repr(c) for c in RUN_IN_CHOICES)}"
        )
    if cache_ttl is not None and (
        isinstance(cache_ttl, bool) or not isinstance(cache_ttl, int | float) or cache_ttl <= 0
    ):
        raise ValueError(
            f"task {task_id!r}: cache_ttl={cache_ttl!r}; give a positive number of seconds or None"
        )
    if cache_key_fn is not None:
        if not callable(cache_key_fn):
            raise TypeError(
                f"task {task_id!r}: cache_key_fn={cache_key_fn!r} is not callable; pass a "
                "function (fn, args, kwargs) -> str"
            )
        if cache_ttl is None:
            raise ValueError(
                f"task {task_id!r}: cache_key_fn is set but cache_ttl is not, so nothing would "
                "be cached; add cache_ttl=<seconds> or drop cache_key_fn"
            )
    if not isinstance(persist, bool):
        raise TypeError(f"task {task_id!r}: persist={persist!r} must be True or False")


def _tags(task_id: str, tags: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise TypeError(f"task {task_id!r}: tags must be a list of str, got {tags!r}")
    result = tuple(tags)
    for tag in result:
        if not isinstance(tag, str):
            raise TypeError(f"task {task_id!r}: tag {tag!r} is not a str")
    return result


def _dependency_ids(task_id: str, dependencies: Iterable[Any] | None) -> tuple[str, ...]:
    if dependencies is None:
        return ()
    if isinstance(dependencies, str | bytes) or not isinstance(dependencies, Iterable):
        raise TypeError(
            f"task {task_id!r}: dependencies must be a list of task ids or tasks, "
            f"got {dependencies!r}"
        )
    ids: list[str] = []
    for dep in dependencies:
        if isinstance(dep, TaskDefinition):
            ids.append(dep.task_id)
        elif isinstance(dep, str) and dep:
            ids.append(dep)
        elif callable(dep) and hasattr(dep, "__name__"):
            ids.append(dep.__name__)
        else:
            raise TypeError(
                f"task {task_id!r}: dependency {dep!r} is neither a task id (str) nor a task"
            )
    if task_id in ids:
        raise ValueError(f"task {task_id!r} lists itself as a dependency")
    return tuple(dict.fromkeys(ids))


def _resolve_retry(
    *,
    retry: RetryPolicy | None,
    retry_policy: RetryPolicy | None,
    retry_attempts: int | None,
    retry_backoff: str | float | None,
    retry_delay_ms: int | float | None,
    retry_max_delay_ms: int | float | None,
    retry_condition: str | None,
    retry_jitter: bool | float | None,
    retries: int | None,
) -> RetryPolicy | None:
    """Turn the retry options of any style into one ``RetryPolicy`` (or None = default)."""
    explicit = [p for p in (retry, retry_policy) if p is not None]
    if len(explicit) == 2 and retry is not retry_policy:
        raise ValueError("@task got both retry= and retry_policy=; give one RetryPolicy")
    cloaca_given = {
        "retry_attempts": retry_attempts,
        "retry_delay_ms": retry_delay_ms,
        "retry_max_delay_ms": retry_max_delay_ms,
        "retry_condition": retry_condition,
    }
    if isinstance(retry_backoff, str):
        cloaca_given["retry_backoff"] = retry_backoff
    if isinstance(retry_jitter, bool):
        cloaca_given["retry_jitter"] = retry_jitter
    cloaca_set = sorted(k for k, v in cloaca_given.items() if v is not None)
    dataflow_given = {"retries": retries}
    if retry_backoff is not None and not isinstance(retry_backoff, str):
        dataflow_given["retry_backoff"] = retry_backoff  # type: ignore[assignment]
    if retry_jitter is not None and not isinstance(retry_jitter, bool):
        dataflow_given["retry_jitter"] = retry_jitter  # type: ignore[assignment]
    dataflow_set = sorted(k for k, v in dataflow_given.items() if v is not None)

    if explicit:
        others = cloaca_set + dataflow_set
        if others:
            raise ValueError(
                f"@task(retry=RetryPolicy(...)) cannot be combined with the retry_* keyword "
                f"arguments (got: {', '.join(others)}). Use the RetryPolicy object OR the "
                "keywords, not both: put every retry setting in the RetryPolicy"
            )
        policy = explicit[0]
        if not isinstance(policy, RetryPolicy):
            raise TypeError(f"@task retry={policy!r} must be a taskloom RetryPolicy")
        return policy
    if cloaca_set and dataflow_set:
        raise ValueError(
            f"@task mixes retry styles: {', '.join(dataflow_set)} (retries count extra attempts) "
            f"with {', '.join(cloaca_set)} (retry_attempts counts all attempts); use one style"
        )
    if cloaca_set:
        return RetryPolicy.from_cloaca_options(
            retry_attempts=retry_attempts,
            retry_backoff=retry_backoff if isinstance(retry_backoff, str) else None,
            retry_delay_ms=retry_delay_ms,
            retry_max_delay_ms=retry_max_delay_ms,
            retry_condition=retry_condition,
            retry_jitter=retry_jitter if isinstance(retry_jitter, bool) else None,
        )
    if dataflow_set:
        return RetryPolicy.from_dataflow_options(
            retries=retries if retries is not None else 0,
            retry_backoff=(
                retry_backoff
                if retry_backoff is not None and not isinstance(retry_backoff, str)
                else 0.0
            ),
            retry_jitter=retry_jitter if retry_jitter is not None else 0.0,
        )
    return None


def _resolve_trigger(rules: Any) -> TriggerRule | None:
    if rules is None:
        return None
    if isinstance(rules, TriggerRule):
        return rules
    if isinstance(rules, dict):
        return from_dict(rules)
    if isinstance(rules, list | tuple):
        for rule in rules:
            if not isinstance(rule, TriggerRule):
                raise TypeError(
                    f"trigger_rules item {rule!r} is not a trigger rule; build rules with "
                    "taskloom.always(), task_success(id), context_value(...), all_of(...)"
                )
        return rules[0] if len(rules) == 1 else all_of(*rules)
    raise TypeError(
        f"trigger_rules={rules!r} is not a trigger rule; build rules with taskloom.always(), "
        "task_success(id), context_value(...), all_of(...)"
    )
