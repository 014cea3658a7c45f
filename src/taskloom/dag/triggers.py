"""Trigger rules: whether a task whose dependencies have all finished runs or is Skipped.

A task's dependencies finishing does not by itself mean the task should run:
a branch may only make sense if an upstream task failed, or if it put a flag
in the context. Rules are immutable, hashable value objects so a workflow can
be compared, hashed into a version and journaled; :meth:`TriggerRule.to_dict`
produces the same JSON shape as Cloacina's ``TriggerRule`` serde form
(``{"type": "All", "conditions": [...]}``, ``{"type": "TaskSuccess",
"task_name": ...}``, ...) so that descriptions are familiar to Cloaca users and
:func:`from_dict` also accepts the plain dicts Cloaca's builders return.

Evaluation follows Cloacina: a rule about a task that has no outcome is false,
comparisons that make no sense (missing key, a string against a number) are
false rather than errors, because a trigger rule is evaluated by the engine
long after the author could have handled an exception.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from taskloom.dag.condition_operators import (
    MISSING,
    OPERATIONS,
    VALUELESS,
    ConditionOperator,
    normalise_operator,
)
from taskloom.dag.context import copy_json, find_non_json

__all__ = [
    "AllOf",
    "Always",
    "AnyOf",
    "ConditionOperator",
    "ContextValue",
    "NoneOf",
    "TaskFailed",
    "TaskSkipped",
    "TaskSuccess",
    "TriggerRule",
    "all_of",
    "always",
    "any_of",
    "context_value",
    "from_dict",
    "none_of",
    "task_failed",
    "task_skipped",
    "task_success",
]


def _task_id_of(task: object, constructor: str) -> str:
    """The task id a rule refers to: a str, a task object's ``task_id`` or a function's name.

    Accepting the decorated function itself lets authors write
    ``task_success(extract)`` and have a rename caught by their editor.
    """
    if isinstance(task, str):
        task_id: object = task
    else:
        task_id = getattr(task, "task_id", None)
        if not isinstance(task_id, str):
            task_id = getattr(task, "__name__", None)
        if not isinstance(task_id, str):
            raise TypeError(
                f"{constructor}() needs a task id (str), a task, or a task function; "
                f"got {type(task).__name__}"
            )
    if not task_id:
        raise ValueError(f"{constructor}() needs a non-empty task id")
    return str.__str__(task_id)


# --------------------------------------------------------------------------- base class


class TriggerRule(ABC):
    """A condition over dependency outcomes and the context, deciding run vs Skipped.

    Subclasses are frozen dataclasses: equal rules compare and hash equal, so
    workflows built twice from the same code are recognised as the same.
    Construct rules with the functions of this module (also available as
    static methods here, e.g. ``TriggerRule.task_success("extract")``).
    """

    __slots__ = ()

    @abstractmethod
    def evaluate(self, outcomes: Mapping[str, str], context: Mapping[str, Any]) -> bool:
        """Whether the task should run.

        ``outcomes`` maps task id to status ("Completed", "Failed", "Skipped",
        ...); ``context`` is the task's input :class:`Context` (any mapping works).
        """

    @abstractmethod
    def referenced_tasks(self) -> frozenset[str]:
        """The ids of every task the rule mentions, so the builder can check they exist."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A fresh JSON-ready description, stable across runs (used for version hashes)."""

    @abstractmethod
    def __str__(self) -> str:
        """The rule as the constructor call that builds it, for display."""

    # Constructors, also exported as module-level functions of the same names.

    @staticmethod
    def always() -> Always:
        """A rule that is always true: the task runs once its dependencies finish."""
        return _ALWAYS

    @staticmethod
    def task_success(task: object) -> TaskSuccess:
        """True when ``task`` (an id, task or task function) finished "Completed"."""
        return TaskSuccess(_task_id_of(task, "task_success"))

    @staticmethod
    def task_failed(task: object) -> TaskFailed:
        """True when ``task`` (an id, task or task function) finished "Failed"."""
        return TaskFailed(_task_id_of(task, "task_failed"))

    @staticmethod
    def task_skipped(task: object) -> TaskSkipped:
        """True when ``task`` (an id, task or task function) was "Skipped"."""
        return TaskSkipped(_task_id_of(task, "task_skipped"))

    @staticmethod
    def context_value(key: str, op: str, value: Any = None) -> ContextValue:
        """True when the context value under ``key`` satisfies ``op`` against ``value``.

        ``op`` is a :class:`ConditionOperator` name ("Equals", "not_equals",
        ...); ``value`` must be JSON and is ignored by Exists/NotExists.
        """
        return ContextValue(key, op, value)

    @staticmethod
    def all_of(*rules: TriggerRule | Sequence[TriggerRule] | Mapping[str, Any]) -> AllOf:
        """True when every rule is (vacuously true with no rules)."""
        return AllOf(_rule_args(rules, "all_of"))

    @staticmethod
    def any_of(*rules: TriggerRule | Sequence[TriggerRule] | Mapping[str, Any]) -> AnyOf:
        """True when at least one rule is (false with no rules)."""
        return AnyOf(_rule_args(rules, "any_of"))

    @staticmethod
    def none_of(*rules: TriggerRule | Sequence[TriggerRule] | Mapping[str, Any]) -> NoneOf:
        """True when no rule is (true with no rules)."""
        return NoneOf(_rule_args(rules, "none_of"))

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> TriggerRule:
        """The rule described by ``data`` (the inverse of :meth:`to_dict`)."""
        return _from_dict(data, "rule")


def _rule_args(rules: tuple[Any, ...], constructor: str) -> tuple[TriggerRule, ...]:
    """Accept ``f(a, b)`` and ``f([a, b])`` alike."""
    if len(rules) == 1 and isinstance(rules[0], (list, tuple)):
        rules = tuple(rules[0])
    return _as_rules(rules, constructor)


def _as_rules(rules: Any, constructor: str) -> tuple[TriggerRule, ...]:
    """Validate combinator members; dicts (Cloaca's rule form) are converted."""
    if not isinstance(rules, (list, tuple)):
        raise TypeError(f"{constructor}() needs trigger rules, got {type(rules).__name__}")
    out: list[TriggerRule] = []
    for position, rule in enumerate(rules):
        if isinstance(rule, TriggerRule):
            out.append(rule)
        elif isinstance(rule, Mapping):
            out.append(_from_dict(rule, f"{constructor}() rule {position}"))
        else:
            raise TypeError(
                f"{constructor}() rule {position} is a {type(rule).__name__}, not a trigger "
                "rule; build rules with always(), task_success(), context_value(), ..."
            )
    return tuple(out)


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Always(TriggerRule):
    """Always true; the default rule of a task."""

    def evaluate(self, outcomes: Mapping[str, str], context: Mapping[str, Any]) -> bool:
        return True

    def referenced_tasks(self) -> frozenset[str]:
        return frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"type": "Always"}

    def __str__(self) -> str:
        return "always()"


_ALWAYS: Final = Always()


@dataclass(frozen=True, slots=True)
class _TaskOutcome(TriggerRule):
    """True when the task ``task_id`` finished with the status ``_STATUS``."""

    task_id: str
    _STATUS: ClassVar[str] = ""
    _TYPE: ClassVar[str] = ""
    _BUILDER: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id:
            raise TypeError(
                f"{self._BUILDER}() needs a non-empty str task id, got {self.task_id!r}"
            )

    def evaluate(self, outcomes: Mapping[str, str], context: Mapping[str, Any]) -> bool:
        return outcomes.get(self.task_id) == self._STATUS

    def referenced_tasks(self) -> frozenset[str]:
        return frozenset((self.task_id,))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self._TYPE, "task_name": self.task_id}

    def __str__(self) -> str:
        return f"{self._BUILDER}({self.task_id!r})"


@dataclass(frozen=True, slots=True)
class TaskSuccess(_TaskOutcome):
    """True when the task completed successfully ("Completed")."""

    _STATUS: ClassVar[str] = "Completed"
    _TYPE: ClassVar[str] = "TaskSuccess"
    _BUILDER: ClassVar[str] = "task_success"


@dataclass(frozen=True, slots=True)
class TaskFailed(_TaskOutcome):
    """True when the task failed ("Failed")."""

    _STATUS: ClassVar[str] = "Failed"
    _TYPE: ClassVar[str] = "TaskFailed"
    _BUILDER: ClassVar[str] = "task_failed"


@dataclass(frozen=True, slots=True)
class TaskSkipped(_TaskOutcome):
    """True when the task was skipped ("Skipped")."""

    _STATUS: ClassVar[str] = "Skipped"
    _TYPE: ClassVar[str] = "TaskSkipped"
    _BUILDER: ClassVar[str] = "task_skipped"


@dataclass(frozen=True, slots=True)
class ContextValue(TriggerRule):
    """True when ``context[key]`` satisfies ``operator`` against ``value``.

    The operator is stored in its canonical spelling, and ``value`` as a
    private JSON copy (None for Exists/NotExists, which ignore it), so equal
    rules compare equal however they were written. Identity (``==``/hash)
    uses the canonical JSON text of the value, which tells ``true`` from ``1``
    and works for list and dict values that cannot be hashed themselves.
    Treat ``value`` as read-only.
    """

    key: str
    operator: str
    value: Any = field(default=None, compare=False)
    _identity: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str):
            raise TypeError(f"context_value() key must be a str, got {type(self.key).__name__}")
        operator = normalise_operator(self.operator)
        value = None if operator in VALUELESS else self.value
        problem = find_non_json(value, "value")
        if problem is not None:
            raise TypeError(
                f"context_value() value for key {self.key!r} is not JSON-serialisable "
                f"({problem}); compare against str/int/float/bool/None, lists and dicts"
            )
        value = copy_json(value)  # private, and tuples become lists as they would in JSON
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "value", value)
        # Built once, when the workflow is defined, never on the evaluation path.
        object.__setattr__(self, "_identity", json.dumps(value, sort_keys=True))

    def evaluate(self, outcomes: Mapping[str, str], context: Mapping[str, Any]) -> bool:
        return OPERATIONS[self.operator](context.get(self.key, MISSING), self.value)

    def referenced_tasks(self) -> frozenset[str]:
        return frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "ContextValue",
            "key": self.key,
            "operator": self.operator,
            "value": copy_json(self.value),
        }

    def __str__(self) -> str:
        if self.operator in VALUELESS:
            return f"context_value({self.key!r}, {self.operator!r})"
        return f"context_value({self.key!r}, {self.operator!r}, {self.value!r})"


@dataclass(frozen=True, slots=True)
class _Combinator(TriggerRule):
    """A rule over other rules; ``rules`` is always a tuple of rules."""

    rules: tuple[TriggerRule, ...] = ()
    _TYPE: ClassVar[str] = ""
    _BUILDER: ClassVar[str] = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", _as_rules(self.rules, self._BUILDER))

    def referenced_tasks(self) -> frozenset[str]:
        found: set[str] = set()
        for rule in self.rules:
            found |= rule.referenced_tasks()
        return frozenset(found)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self._TYPE, "conditions": [rule.to_dict() for rule in self.rules]}

    def __str__(self) -> str:
        return f"{self._BUILDER}({', '.join(str(rule) for rule in self.rules)})"


@dataclass(frozen=True, slots=True)
class AllOf(_Combinator):
    """True when every member rule is; true when there are none."""

    _TYPE: ClassVar[str] = "All"
    _BUILDER: ClassVar[str] = "all_of"

    def evaluate(self, outcomes: Mapping[str, str], context: Mapping[str, Any]) -> bool:
        return all(rule.evaluate(outcomes, context) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class AnyOf(_Combinator):
    """True when at least one member rule is; false when there are none."""

    _TYPE: ClassVar[str] = "Any"
    _BUILDER: ClassVar[str] = "any_of"

    def evaluate(self, outcomes: Mapping[str, str], context: Mapping[str, Any]) -> bool:
        return any(rule.evaluate(outcomes, context) for rule in self.rules)


@dataclass(frozen=True, slots=True)
class NoneOf(_Combinator):
    """True when no member rule is; true when there are none."""

    _TYPE: ClassVar[str] = "None"
    _BUILDER: ClassVar[str] = "none_of"

    def evaluate(self, outcomes: Mapping[str, str], context: Mapping[str, Any]) -> bool:
        return not any(rule.evaluate(outcomes, context) for rule in self.rules)


# --------------------------------------------------------------------------- (de)serialising

_TASK_TYPES: Final[dict[str, type[_TaskOutcome]]] = {
    "TaskSuccess": TaskSuccess,
    "TaskFailed": TaskFailed,
    "TaskSkipped": TaskSkipped,
}
_COMBINATOR_TYPES: Final[dict[str, type[_Combinator]]] = {
    "All": AllOf,
    "Any": AnyOf,
    "None": NoneOf,
}
_ALL_TYPES = ", ".join(["Always", *_TASK_TYPES, "ContextValue", *_COMBINATOR_TYPES])


def from_dict(data: Mapping[str, Any]) -> TriggerRule:
    """The rule described by ``data``: the inverse of :meth:`TriggerRule.to_dict`.

    The journal stores rules in this form. Also accepts the dicts Cloaca's rule
    builders return (same shape) and ``task_id`` in place of ``task_name``.
    """
    return _from_dict(data, "rule")


def _from_dict(data: Any, where: str) -> TriggerRule:
    if not isinstance(data, Mapping):
        raise TypeError(f"Trigger {where} must be a dict, got {type(data).__name__}")
    kind = data.get("type")
    if kind == "Always":
        return _ALWAYS
    task_type = _TASK_TYPES.get(kind) if isinstance(kind, str) else None
    if task_type is not None:
        task_id = data.get("task_name", data.get("task_id"))
        if not isinstance(task_id, str) or not task_id:
            raise ValueError(f"Trigger {where} of type {kind!r} needs a str 'task_name'")
        return task_type(task_id)
    if kind == "ContextValue":
        key = data.get("key")
        operator = data.get("operator")
        if not isinstance(key, str) or not isinstance(operator, str):
            raise ValueError(
                f"Trigger {where} of type 'ContextValue' needs str 'key' and 'operator'"
            )
        return ContextValue(key, operator, data.get("value"))
    combinator = _COMBINATOR_TYPES.get(kind) if isinstance(kind, str) else None
    if combinator is not None:
        conditions = data.get("conditions", [])
        if not isinstance(conditions, (list, tuple)):
            raise ValueError(f"Trigger {where} of type {kind!r} needs a list 'conditions'")
        return combinator(
            tuple(
                _from_dict(item, f"{where} condition {position}")
                for position, item in enumerate(conditions)
            )
        )
    raise ValueError(f"Trigger {where} has unknown type {kind!r}; expected one of: {_ALL_TYPES}")


# Module-level constructors: the same functions as the TriggerRule static methods.
always = TriggerRule.always
task_success = TriggerRule.task_success
task_failed = TriggerRule.task_failed
task_skipped = TriggerRule.task_skipped
context_value = TriggerRule.context_value
all_of = TriggerRule.all_of
any_of = TriggerRule.any_of
none_of = TriggerRule.none_of
