"""The comparisons a ``context_value`` trigger rule can make, and their spellings.

Cloacina's operators (Equals, GreaterThan, Contains, Exists, ...) with
Cloaca's and snake_case spellings, each a function that is false rather
than an error when a comparison makes no sense (a missing key, a string
against a number): a rule is evaluated long after its author could catch
anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from taskloom.dag.context import json_equal


class ConditionOperator:
    """The operators of :func:`context_value`, as plain str constants.

    Plain strings rather than an ``Enum`` so that a constant and its spelling
    are interchangeable everywhere, including in type-checked code
    (``ConditionOperator.EQUALS == "Equals"``) and in JSON.
    """

    EQUALS: Final = "Equals"
    NOT_EQUALS: Final = "NotEquals"
    GREATER_THAN: Final = "GreaterThan"
    LESS_THAN: Final = "LessThan"
    CONTAINS: Final = "Contains"
    NOT_CONTAINS: Final = "NotContains"
    EXISTS: Final = "Exists"
    NOT_EXISTS: Final = "NotExists"

    #: Every canonical operator name, in documentation order.
    ALL: Final[tuple[str, ...]] = (
        EQUALS,
        NOT_EQUALS,
        GREATER_THAN,
        LESS_THAN,
        CONTAINS,
        NOT_CONTAINS,
        EXISTS,
        NOT_EXISTS,
    )


# Spellings folded to lower case without "_", "-" or spaces, mapped to the canonical name.
# Includes the short aliases Cloaca's own normaliser accepts ("eq", "==", "gt", ...).
OPERATOR_SPELLINGS: Final[dict[str, str]] = {
    "equals": "Equals",
    "eq": "Equals",
    "==": "Equals",
    "notequals": "NotEquals",
    "ne": "NotEquals",
    "!=": "NotEquals",
    "greaterthan": "GreaterThan",
    "gt": "GreaterThan",
    ">": "GreaterThan",
    "lessthan": "LessThan",
    "lt": "LessThan",
    "<": "LessThan",
    "contains": "Contains",
    "notcontains": "NotContains",
    "exists": "Exists",
    "notexists": "NotExists",
}

VALID_OPERATORS = ", ".join(ConditionOperator.ALL)

MISSING: Final[Any] = object()


def normalise_operator(op: object) -> str:
    if not isinstance(op, str):
        raise TypeError(
            f"context_value operator must be a str, got {type(op).__name__}; "
            f"use one of: {VALID_OPERATORS}"
        )
    folded = op.lower().replace("_", "").replace("-", "").replace(" ", "")
    canonical = OPERATOR_SPELLINGS.get(folded)
    if canonical is None:
        raise ValueError(
            f"Unknown context_value operator {op!r}; use one of: {VALID_OPERATORS} "
            "(snake_case spellings such as 'not_equals' are accepted too)"
        )
    return canonical


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _op_equals(actual: Any, expected: Any) -> bool:
    return actual is not MISSING and json_equal(actual, expected)


def _op_not_equals(actual: Any, expected: Any) -> bool:
    return not _op_equals(actual, expected)


def _op_greater_than(actual: Any, expected: Any) -> bool:
    if is_number(actual) and is_number(expected):
        return bool(actual > expected)
    if isinstance(actual, str) and isinstance(expected, str):
        return actual > expected
    return False


def _op_less_than(actual: Any, expected: Any) -> bool:
    if is_number(actual) and is_number(expected):
        return bool(actual < expected)
    if isinstance(actual, str) and isinstance(expected, str):
        return actual < expected
    return False


def _op_contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, (list, tuple)):
        return any(json_equal(item, expected) for item in actual)
    if isinstance(actual, Mapping):
        return isinstance(expected, str) and expected in actual
    return False


def _op_not_contains(actual: Any, expected: Any) -> bool:
    return not _op_contains(actual, expected)


def _op_exists(actual: Any, expected: Any) -> bool:
    return actual is not MISSING


def _op_not_exists(actual: Any, expected: Any) -> bool:
    return actual is MISSING


OPERATIONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "Equals": _op_equals,
    "NotEquals": _op_not_equals,
    "GreaterThan": _op_greater_than,
    "LessThan": _op_less_than,
    "Contains": _op_contains,
    "NotContains": _op_not_contains,
    "Exists": _op_exists,
    "NotExists": _op_not_exists,
}

VALUELESS: Final = frozenset({"Exists", "NotExists"})
