"""Tests of taskloom.dag.triggers: rule construction, evaluation and (de)serialising."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from taskloom.dag import triggers
from taskloom.dag.context import Context
from taskloom.dag.triggers import (
    AllOf,
    Always,
    AnyOf,
    ConditionOperator,
    ContextValue,
    NoneOf,
    TaskFailed,
    TaskSkipped,
    TaskSuccess,
    TriggerRule,
    all_of,
    always,
    any_of,
    context_value,
    from_dict,
    none_of,
    task_failed,
    task_skipped,
    task_success,
)

OUTCOMES = {"ok": "Completed", "bad": "Failed", "skip": "Skipped", "wait": "Running"}
EMPTY = Context()


def holds(rule: TriggerRule, context: dict[str, Any] | None = None) -> bool:
    return rule.evaluate(OUTCOMES, Context(context or {}))


# --------------------------------------------------------------------------- constructors


def test_constructors_exist_as_module_functions_and_static_methods() -> None:
    for name in (
        "always",
        "task_success",
        "task_failed",
        "task_skipped",
        "context_value",
        "all_of",
        "any_of",
        "none_of",
    ):
        assert getattr(triggers, name) is getattr(TriggerRule, name)
    assert TriggerRule.task_success("a") == task_success("a")
    assert TriggerRule.from_dict({"type": "Always"}) == always()


def test_trigger_rule_is_abstract() -> None:
    with pytest.raises(TypeError):
        TriggerRule()  # type: ignore[abstract]


def test_always() -> None:
    rule = always()
    assert isinstance(rule, Always)
    assert rule == Always()
    assert holds(rule)
    assert rule.evaluate({}, EMPTY)
    assert rule.referenced_tasks() == frozenset()
    assert rule.to_dict() == {"type": "Always"}
    assert str(rule) == "always()"


@pytest.mark.parametrize(
    ("builder", "cls", "kind", "true_for"),
    [
        (task_success, TaskSuccess, "TaskSuccess", "ok"),
        (task_failed, TaskFailed, "TaskFailed", "bad"),
        (task_skipped, TaskSkipped, "TaskSkipped", "skip"),
    ],
)
def test_task_outcome_rules(
    builder: Any, cls: type[TaskSuccess | TaskFailed | TaskSkipped], kind: str, true_for: str
) -> None:
    for task_id in ("ok", "bad", "skip", "wait"):
        rule = builder(task_id)
        assert isinstance(rule, cls)
        assert rule.task_id == task_id
        assert holds(rule) is (task_id == true_for)
        assert rule.referenced_tasks() == frozenset({task_id})
        assert rule.to_dict() == {"type": kind, "task_name": task_id}
        assert str(rule) == f"{builder.__name__}({task_id!r})"
    assert holds(builder("absent")) is False


def test_task_rules_accept_task_objects_and_functions() -> None:
    class FakeTask:
        task_id = "from_attr"

        def __name__(self) -> str:  # pragma: no cover - must not be used
            return "wrong"

    def extract() -> None:
        pass

    assert task_success(FakeTask()) == task_success("from_attr")
    assert task_failed(extract) == task_failed("extract")
    assert task_skipped(extract).referenced_tasks() == frozenset({"extract"})


def test_task_rules_fall_back_to_name_when_task_id_is_not_a_str() -> None:
    def load() -> None:
        pass

    load.task_id = None  # type: ignore[attr-defined]
    assert task_success(load) == task_success("load")


@pytest.mark.parametrize("bad", [42, None, object()])
def test_task_rules_reject_non_tasks(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"task_success\(\) needs a task id"):
        task_success(bad)


def test_task_rules_reject_empty_id() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        task_failed("")
    with pytest.raises(TypeError, match="non-empty str task id"):
        TaskSuccess("")
    with pytest.raises(TypeError, match="non-empty str task id"):
        TaskSuccess(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- operators


def test_condition_operator_constants() -> None:
    assert ConditionOperator.EQUALS == "Equals"
    assert ConditionOperator.NOT_EQUALS == "NotEquals"
    assert ConditionOperator.GREATER_THAN == "GreaterThan"
    assert ConditionOperator.LESS_THAN == "LessThan"
    assert ConditionOperator.CONTAINS == "Contains"
    assert ConditionOperator.NOT_CONTAINS == "NotContains"
    assert ConditionOperator.EXISTS == "Exists"
    assert ConditionOperator.NOT_EXISTS == "NotExists"
    assert ConditionOperator.ALL == (
        "Equals",
        "NotEquals",
        "GreaterThan",
        "LessThan",
        "Contains",
        "NotContains",
        "Exists",
        "NotExists",
    )


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("Equals", "Equals"),
        ("equals", "Equals"),
        ("EQUALS", "Equals"),
        ("eq", "Equals"),
        ("==", "Equals"),
        ("NotEquals", "NotEquals"),
        ("not_equals", "NotEquals"),
        ("notequals", "NotEquals"),
        ("not-equals", "NotEquals"),
        ("!=", "NotEquals"),
        ("GreaterThan", "GreaterThan"),
        ("greater_than", "GreaterThan"),
        ("gt", "GreaterThan"),
        ("LessThan", "LessThan"),
        ("less_than", "LessThan"),
        ("<", "LessThan"),
        ("Contains", "Contains"),
        ("contains", "Contains"),
        ("NotContains", "NotContains"),
        ("not_contains", "NotContains"),
        ("Exists", "Exists"),
        ("exists", "Exists"),
        ("NotExists", "NotExists"),
        ("not_exists", "NotExists"),
        (ConditionOperator.CONTAINS, "Contains"),
    ],
)
def test_operator_spellings(spelling: str, canonical: str) -> None:
    rule = context_value("k", spelling, "x")
    assert isinstance(rule, ContextValue)
    assert rule.operator == canonical
    assert type(rule.operator) is str
    assert rule.to_dict()["operator"] == canonical


def test_spellings_of_one_operator_build_equal_rules() -> None:
    rules = {context_value("k", op, 1) for op in ("Equals", "equals", "eq", "==")}
    assert len(rules) == 1


def test_unknown_operator_lists_valid_ones() -> None:
    with pytest.raises(ValueError) as info:
        context_value("k", "Between", 1)
    message = str(info.value)
    assert "'Between'" in message
    for op in ConditionOperator.ALL:
        assert op in message


def test_non_str_operator_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="operator must be a str"):
        context_value("k", 3, 1)  # type: ignore[arg-type]


def test_context_value_key_must_be_str() -> None:
    with pytest.raises(TypeError, match="key must be a str"):
        context_value(1, "Equals", 1)  # type: ignore[arg-type]


def test_context_value_value_must_be_json() -> None:
    with pytest.raises(TypeError) as info:
        context_value("when", "Equals", {"at": [datetime.date(2024, 1, 1)]})
    message = str(info.value)
    assert "'when'" in message
    assert "date at value.at[0]" in message
    with pytest.raises(TypeError, match="non-finite"):
        context_value("x", "GreaterThan", float("nan"))


def test_context_value_copies_value_and_turns_tuples_into_lists() -> None:
    source: list[Any] = [1, (2, 3)]
    rule = context_value("k", "Equals", source)
    source.append(4)
    assert isinstance(rule, ContextValue)
    assert rule.value == [1, [2, 3]]
    assert holds(rule, {"k": [1, [2, 3]]})


def test_exists_ignores_value() -> None:
    with_value = context_value("k", "Exists", 123)
    assert with_value == context_value("k", "exists")
    assert isinstance(with_value, ContextValue)
    assert with_value.value is None
    # Not even validated: it is ignored.
    assert context_value("k", "NotExists", object()) == context_value("k", "NotExists")


# --------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("op", "expected", "context", "result"),
    [
        # Equals
        ("Equals", 1, {"k": 1}, True),
        ("Equals", 1, {"k": 1.0}, True),
        ("Equals", 1, {"k": 2}, False),
        ("Equals", True, {"k": 1}, False),
        ("Equals", 1, {"k": True}, False),
        ("Equals", "a", {"k": "a"}, True),
        ("Equals", None, {"k": None}, True),
        ("Equals", None, {}, False),
        ("Equals", 1, {}, False),
        ("Equals", [1, {"a": 2}], {"k": [1, {"a": 2}]}, True),
        ("Equals", {"a": [1]}, {"k": {"a": [1]}}, True),
        ("Equals", {"a": [1]}, {"k": {"a": [True]}}, False),
        # NotEquals
        ("NotEquals", 1, {"k": 2}, True),
        ("NotEquals", 1, {"k": 1}, False),
        ("NotEquals", 1, {}, True),
        ("NotEquals", None, {}, True),
        ("NotEquals", True, {"k": 1}, True),
        # GreaterThan
        ("GreaterThan", 3, {"k": 4}, True),
        ("GreaterThan", 3, {"k": 3}, False),
        ("GreaterThan", 3, {"k": 3.5}, True),
        ("GreaterThan", 3.5, {"k": 3}, False),
        ("GreaterThan", 3, {}, False),
        ("GreaterThan", 3, {"k": "4"}, False),
        ("GreaterThan", "3", {"k": 4}, False),
        ("GreaterThan", 0, {"k": True}, False),
        ("GreaterThan", 3, {"k": None}, False),
        ("GreaterThan", 3, {"k": [4]}, False),
        ("GreaterThan", [1], {"k": [2]}, False),
        ("GreaterThan", "b", {"k": "c"}, True),
        ("GreaterThan", "b", {"k": "a"}, False),
        # LessThan
        ("LessThan", 3, {"k": 2}, True),
        ("LessThan", 3, {"k": 3}, False),
        ("LessThan", 3, {}, False),
        ("LessThan", 3, {"k": "2"}, False),
        ("LessThan", 1, {"k": False}, False),
        ("LessThan", "b", {"k": "a"}, True),
        # Contains
        ("Contains", "ell", {"k": "hello"}, True),
        ("Contains", "xyz", {"k": "hello"}, False),
        ("Contains", 1, {"k": "hello1"}, False),
        ("Contains", 2, {"k": [1, 2, 3]}, True),
        ("Contains", 4, {"k": [1, 2, 3]}, False),
        ("Contains", {"a": 1}, {"k": [{"a": 1}]}, True),
        ("Contains", True, {"k": [1]}, False),
        ("Contains", "a", {"k": {"a": 0}}, True),
        ("Contains", "b", {"k": {"a": 0}}, False),
        ("Contains", 1, {"k": {"1": 0}}, False),
        ("Contains", ["a"], {"k": {"a": 0}}, False),
        ("Contains", {"a": 1}, {"k": "a"}, False),
        ("NotContains", ["a"], {"k": {"a": 0}}, True),
        ("Contains", 1, {"k": 1}, False),
        ("Contains", "a", {}, False),
        # NotContains
        ("NotContains", "ell", {"k": "hello"}, False),
        ("NotContains", "xyz", {"k": "hello"}, True),
        ("NotContains", 2, {"k": [1, 2]}, False),
        ("NotContains", 3, {"k": [1, 2]}, True),
        ("NotContains", "a", {"k": {"a": 0}}, False),
        ("NotContains", "a", {}, True),
        # Exists / NotExists
        ("Exists", None, {"k": None}, True),
        ("Exists", None, {"k": 0}, True),
        ("Exists", None, {}, False),
        ("NotExists", None, {}, True),
        ("NotExists", None, {"k": None}, False),
    ],
)
def test_context_value_evaluation(
    op: str, expected: Any, context: dict[str, Any], result: bool
) -> None:
    rule = context_value("k", op, expected)
    assert rule.evaluate({}, Context(context)) is result
    # Plain mappings work too (the engine may hand over a dict).
    assert rule.evaluate({}, context) is result


def test_context_value_references_no_tasks_and_prints() -> None:
    rule = context_value("n", "greater_than", 3)
    assert rule.referenced_tasks() == frozenset()
    assert str(rule) == "context_value('n', 'GreaterThan', 3)"
    assert str(context_value("n", "exists")) == "context_value('n', 'Exists')"
    assert rule.to_dict() == {
        "type": "ContextValue",
        "key": "n",
        "operator": "GreaterThan",
        "value": 3,
    }


# --------------------------------------------------------------------------- combinators


def test_empty_combinators() -> None:
    assert holds(all_of()) is True
    assert holds(any_of()) is False
    assert holds(none_of()) is True
    assert holds(all_of([])) is True
    assert holds(any_of(())) is False


@pytest.mark.parametrize(
    ("ids", "all_result", "any_result", "none_result"),
    [
        (("ok", "ok"), True, True, False),
        (("ok", "bad"), False, True, False),
        (("bad", "bad"), False, False, True),
        (("ok",), True, True, False),
        (("bad",), False, False, True),
        (("absent", "ok"), False, True, False),
    ],
)
def test_combinator_truth_tables(
    ids: tuple[str, ...], all_result: bool, any_result: bool, none_result: bool
) -> None:
    rules = [task_success(task_id) for task_id in ids]
    assert holds(all_of(*rules)) is all_result
    assert holds(any_of(*rules)) is any_result
    assert holds(none_of(*rules)) is none_result


def test_combinators_accept_varargs_or_a_single_list_or_tuple() -> None:
    a, b = task_success("a"), task_failed("b")
    for build, cls in ((all_of, AllOf), (any_of, AnyOf), (none_of, NoneOf)):
        rule = build(a, b)
        assert isinstance(rule, cls)
        assert rule == build([a, b]) == build((a, b))
        assert rule.rules == (a, b)
        assert build(a) == build([a])


def test_combinators_accept_rule_dicts() -> None:
    rule = all_of({"type": "TaskSuccess", "task_name": "a"}, context_value("k", "exists"))
    assert rule == all_of(task_success("a"), context_value("k", "exists"))


def test_combinators_reject_non_rules() -> None:
    with pytest.raises(TypeError, match=r"all_of\(\) rule 1 is a str"):
        all_of(task_success("a"), "b")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"none_of\(\) rule 0 is a int"):
        none_of([1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="needs trigger rules"):
        AllOf(task_success("a"))  # type: ignore[arg-type]


def test_combinator_classes_normalise_lists() -> None:
    rule = AnyOf([task_success("a")])  # type: ignore[arg-type]
    assert rule.rules == (task_success("a"),)
    hash(rule)


def test_nested_combinators() -> None:
    rule = any_of(
        all_of(task_success("ok"), context_value("mode", "Equals", "fast")),
        none_of(task_failed("bad"), task_skipped("skip")),
    )
    assert holds(rule, {"mode": "fast"}) is True
    assert holds(rule, {"mode": "slow"}) is False
    assert rule.referenced_tasks() == frozenset({"ok", "bad", "skip"})
    assert str(rule) == (
        "any_of(all_of(task_success('ok'), context_value('mode', 'Equals', 'fast')), "
        "none_of(task_failed('bad'), task_skipped('skip')))"
    )


def test_combinator_to_dict() -> None:
    rule = all_of(task_success("a"), any_of(always()))
    assert rule.to_dict() == {
        "type": "All",
        "conditions": [
            {"type": "TaskSuccess", "task_name": "a"},
            {"type": "Any", "conditions": [{"type": "Always"}]},
        ],
    }
    assert none_of().to_dict() == {"type": "None", "conditions": []}


def test_combinators_short_circuit() -> None:
    class Boom(TriggerRule):
        def evaluate(self, outcomes: Any, context: Any) -> bool:
            raise AssertionError("evaluated")

        def referenced_tasks(self) -> frozenset[str]:
            return frozenset()

        def to_dict(self) -> dict[str, Any]:
            return {}

        def __str__(self) -> str:
            return "boom"

    boom = Boom()
    assert holds(all_of(task_success("bad"), boom)) is False
    assert holds(any_of(task_success("ok"), boom)) is True
    assert holds(none_of(task_success("ok"), boom)) is False


# --------------------------------------------------------------------------- value semantics


def test_rules_are_frozen() -> None:
    rule = task_success("a")
    with pytest.raises(AttributeError):
        rule.task_id = "b"  # type: ignore[misc]
    combined = all_of(rule)
    with pytest.raises(AttributeError):
        combined.rules = ()  # type: ignore[misc]


def test_rules_are_hashable_and_compare_by_value() -> None:
    rules = [
        always(),
        task_success("a"),
        task_failed("a"),
        task_skipped("a"),
        context_value("k", "Equals", [1, {"a": [2]}]),
        context_value("k", "Equals", {"b": 1, "a": 2}),
        all_of(task_success("a")),
        any_of(task_success("a")),
        none_of(task_success("a")),
    ]
    assert len(set(rules)) == len(rules)
    rebuilt = [from_dict(rule.to_dict()) for rule in rules]
    assert rebuilt == rules
    assert {hash(rule) for rule in rebuilt} == {hash(rule) for rule in rules}
    assert context_value("k", "Equals", {"a": 2, "b": 1}) == context_value(
        "k", "Equals", {"b": 1, "a": 2}
    )


def test_context_value_identity_tells_json_types_apart() -> None:
    assert context_value("k", "Equals", True) != context_value("k", "Equals", 1)
    assert context_value("k", "Equals", 1) != context_value("k", "Equals", "1")
    assert context_value("k", "Equals", 1) != context_value("k", "NotEquals", 1)
    assert context_value("k", "Equals", 1) != context_value("j", "Equals", 1)


def test_same_task_different_outcome_rules_differ() -> None:
    pairs: list[tuple[TriggerRule, TriggerRule]] = [
        (task_success("a"), task_failed("a")),
        (task_failed("a"), task_skipped("a")),
        (all_of(task_success("a")), any_of(task_success("a"))),
        (any_of(task_success("a")), none_of(task_success("a"))),
    ]
    for left, right in pairs:
        assert left != right
        assert left.to_dict() != right.to_dict()


# --------------------------------------------------------------------------- to_dict / from_dict


ROUND_TRIP = [
    always(),
    task_success("extract"),
    task_failed("extract"),
    task_skipped("extract"),
    context_value("n", "GreaterThan", 3),
    context_value("tags", "contains", "x"),
    context_value("cfg", "Equals", {"a": [1, 2.5, None, True, "s"]}),
    context_value("flag", "exists"),
    all_of(),
    any_of(),
    none_of(),
    all_of(
        task_success("a"),
        any_of(task_failed("b"), none_of(task_skipped("c"), context_value("k", "ne", 0))),
    ),
]


@pytest.mark.parametrize("rule", ROUND_TRIP, ids=str)
def test_round_trip(rule: TriggerRule) -> None:
    described = rule.to_dict()
    assert json.loads(json.dumps(described)) == described  # JSON-ready
    again = from_dict(json.loads(json.dumps(described)))
    assert again == rule
    assert again.to_dict() == described
    assert str(again) == str(rule)
    assert again.referenced_tasks() == rule.referenced_tasks()


def test_to_dict_returns_a_fresh_copy() -> None:
    rule = context_value("k", "Equals", {"a": [1]})
    described = rule.to_dict()
    described["value"]["a"].append(2)
    assert rule.to_dict()["value"] == {"a": [1]}
    assert holds(rule, {"k": {"a": [1]}})


def test_to_dict_is_stable() -> None:
    def build() -> TriggerRule:
        return all_of(task_success("a"), context_value("k", "eq", {"x": 1}))

    assert json.dumps(build().to_dict()) == json.dumps(build().to_dict())


def test_from_dict_accepts_cloaca_shapes() -> None:
    cloaca = {
        "type": "All",
        "conditions": [
            {"type": "ContextValue", "key": "do_audit", "operator": "Equals", "value": True},
            {"type": "TaskSuccess", "task_name": "poll"},
        ],
    }
    assert from_dict(cloaca) == all_of(
        context_value("do_audit", "Equals", True), task_success("poll")
    )
    assert from_dict({"type": "TaskFailed", "task_id": "x"}) == task_failed("x")
    assert from_dict({"type": "ContextValue", "key": "k", "operator": "exists"}) == context_value(
        "k", "Exists"
    )
    assert from_dict({"type": "Any"}) == any_of()


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        ({"type": "Sometimes"}, ValueError, "unknown type 'Sometimes'"),
        ({}, ValueError, "unknown type None"),
        ({"type": ["All"]}, ValueError, "unknown type"),
        ({"type": "TaskSuccess"}, ValueError, "needs a str 'task_name'"),
        ({"type": "TaskSuccess", "task_name": 3}, ValueError, "needs a str 'task_name'"),
        ({"type": "ContextValue", "key": "k"}, ValueError, "'key' and 'operator'"),
        ({"type": "ContextValue", "key": "k", "operator": "nope"}, ValueError, "Unknown"),
        ({"type": "All", "conditions": "x"}, ValueError, "list 'conditions'"),
        ({"type": "All", "conditions": [1]}, TypeError, "condition 0 must be a dict"),
        (
            {"type": "Any", "conditions": [{"type": "All", "conditions": [{"type": "?"}]}]},
            ValueError,
            "condition 0 condition 0 has unknown type",
        ),
        ([], TypeError, "must be a dict"),
    ],
)
def test_from_dict_rejects_malformed(data: Any, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        from_dict(data)


def test_unknown_type_error_lists_the_known_types() -> None:
    with pytest.raises(ValueError) as info:
        from_dict({"type": "Sometimes"})
    for kind in (
        "Always",
        "TaskSuccess",
        "TaskFailed",
        "TaskSkipped",
        "ContextValue",
        "All",
        "Any",
        "None",
    ):
        assert kind in str(info.value)


# --------------------------------------------------------------------------- referenced_tasks


def test_referenced_tasks_recurses_and_deduplicates() -> None:
    rule = all_of(
        task_success("a"),
        any_of(task_failed("b"), task_skipped("a")),
        none_of(context_value("k", "exists"), all_of(task_success("c"))),
        always(),
    )
    assert rule.referenced_tasks() == frozenset({"a", "b", "c"})
    assert all_of().referenced_tasks() == frozenset()
