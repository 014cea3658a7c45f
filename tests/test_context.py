"""Tests of taskloom.dag.context: the Context bag, JSON checks and merging."""

from __future__ import annotations

import copy
import datetime
import enum
import json
import math
from collections import OrderedDict
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from taskloom.dag.context import (
    Context,
    copy_json,
    find_non_json,
    json_equal,
    merge_contexts,
)


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


# --------------------------------------------------------------------------- find_non_json


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -(10**30),
        1.5,
        "",
        "text",
        [],
        (),
        {},
        [1, "a", None, [2.0, {"k": [True]}]],
        {"a": {"b": {"c": [1, (2, 3)]}}},
        Colour.RED,
        Level.HIGH,
        OrderedDict(a=1),
        MappingProxyType({"a": [1]}),
    ],
)
def test_find_non_json_accepts_json_values(value: Any) -> None:
    assert find_non_json(value, "v") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime.date(2024, 1, 1), "date at v"),
        ({1, 2}, "set at v"),
        (b"bytes", "bytes at v"),
        (Decimal("1.5"), "Decimal at v"),
        (object(), "object at v"),
        (float("nan"), "non-finite float nan at v"),
        (float("inf"), "non-finite float inf at v"),
        (-math.inf, "non-finite float -inf at v"),
        ([1, 2, {3}], "set at v[2]"),
        ({"a": [0, {"x": b""}]}, "bytes at v.a[1].x"),
        ({"a b": [float("nan")]}, "non-finite float nan at v['a b'][0]"),
        ({"ok": 1, 2: "x"}, "dict key 2 of type int at v"),
        ({"n": {(1,): 1}}, "dict key (1,) of type tuple at v.n"),
        ([[[[datetime.time(1)]]]], "time at v[0][0][0][0]"),
    ],
)
def test_find_non_json_reports_first_problem_with_path(value: Any, expected: str) -> None:
    assert find_non_json(value, "v") == expected


def test_find_non_json_reports_circular_values_without_crashing() -> None:
    loop: list[Any] = []
    loop.append(loop)
    problem = find_non_json(loop, "v")
    assert problem is not None
    assert "circular" in problem
    assert "v" in problem


# --------------------------------------------------------------------------- json_equal / copy_json


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1, True),
        (1, 1.0, True),
        (True, True, True),
        (True, 1, False),
        (1, True, False),
        (False, 0, False),
        (None, None, True),
        (None, 0, False),
        ("a", "a", True),
        ("1", 1, False),
        ([1, 2], (1, 2), True),
        ([1, 2], [2, 1], False),
        ([1], [1, 1], False),
        ([True], [1], False),
        ({"a": [1]}, {"a": [1]}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": 1}, {"b": 1}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": 1}, MappingProxyType({"a": 1}), True),
        ({"a": 1}, [("a", 1)], False),
        ([1], {"0": 1}, False),
        (1, [1], False),
        ("x", {"x": 1}, False),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal


def test_copy_json_shares_nothing_and_turns_tuples_into_lists() -> None:
    original = {"a": [1, {"b": (2, [3])}], "m": MappingProxyType({"k": [4]})}
    copied = copy_json(original)
    assert copied == {"a": [1, {"b": [2, [3]]}], "m": {"k": [4]}}
    copied["a"][1]["b"][1].append(99)
    copied["m"]["k"].append(5)
    assert original["a"][1]["b"] == (2, [3])  # type: ignore[index]
    assert original["m"]["k"] == [4]  # type: ignore[index]


def test_copy_json_deep_copies_unexpected_objects() -> None:
    weird = {"s": {1, 2}}
    copied = copy_json(weird)
    assert copied == weird
    assert copied["s"] is not weird["s"]


# --------------------------------------------------------------------------- Context basics


def test_empty_context() -> None:
    ctx = Context()
    assert len(ctx) == 0
    assert ctx.to_dict() == {}
    assert list(ctx) == []
    assert ctx == {}
    assert Context(None) == Context()


def test_constructor_copies_data() -> None:
    source: dict[str, Any] = {"items": [1, 2], "nested": {"k": "v"}}
    ctx = Context(source)
    source["items"].append(3)
    source["nested"]["k"] = "changed"
    source["new"] = 1
    assert ctx.to_dict() == {"items": [1, 2], "nested": {"k": "v"}}


def test_constructor_accepts_any_mapping_and_context() -> None:
    assert Context(MappingProxyType({"a": 1})) == {"a": 1}
    first = Context({"a": [1]})
    second = Context(first)
    second["a"].append(2)
    assert first["a"] == [1]


def test_constructor_rejects_non_mapping() -> None:
    with pytest.raises(TypeError, match="must be a dict"):
        Context([("a", 1)])  # type: ignore[arg-type]


def test_constructor_validates_values_and_names_the_key() -> None:
    with pytest.raises(TypeError) as info:
        Context({"ok": 1, "when": datetime.datetime(2024, 1, 1)})
    message = str(info.value)
    assert message == (
        "Context value for key 'when' is not JSON-serialisable (datetime at when); "
        "store str/int/float/bool/None, lists and dicts with str keys"
    )


def test_constructor_rejects_non_str_keys() -> None:
    with pytest.raises(TypeError, match=r"Context keys must be str, got int 1"):
        Context({1: "x"})  # type: ignore[dict-item]


def test_tuples_are_stored_as_lists() -> None:
    ctx = Context({"t": (1, (2, 3))})
    assert ctx["t"] == [1, [2, 3]]
    assert type(ctx["t"]) is list
    ctx.set("u", ({"a": (1,)},))
    assert ctx["u"] == [{"a": [1]}]


def test_subclasses_of_json_types_are_stored_as_plain_types() -> None:
    ctx = Context(
        {
            "colour": Colour.RED,
            "level": Level.HIGH,
            "ordered": OrderedDict(a=1),
            Colour.RED: "enum key",
        }
    )
    assert type(ctx["colour"]) is str
    assert ctx["colour"] == "red"
    assert type(ctx["level"]) is int
    assert ctx["level"] == 3
    assert type(ctx["ordered"]) is dict
    assert [type(key) for key in ctx] == [str, str, str, str]
    assert "red" in ctx
    assert json.loads(ctx.to_json()) == ctx.to_dict()


def test_nested_path_is_reported() -> None:
    ctx = Context()
    with pytest.raises(TypeError) as info:
        ctx.set("when", [0, 1, {"x": datetime.datetime(2024, 1, 1)}])
    assert "key 'when'" in str(info.value)
    assert "(datetime at when[2].x)" in str(info.value)
    assert "when" not in ctx


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (float("nan"), "non-finite float nan at v"),
        ({"a": float("inf")}, "non-finite float inf at v.a"),
        ({"a": {1: 2}}, "dict key 1 of type int at v.a"),
        ([{"a b": {"c"}}], "set at v[0]['a b']"),
        (lambda: None, "function at v"),
    ],
)
def test_every_kind_of_problem_is_reported(value: Any, fragment: str) -> None:
    with pytest.raises(TypeError) as info:
        Context().set("v", value)
    assert f"({fragment})" in str(info.value)
    assert "key 'v'" in str(info.value)


def test_circular_value_is_rejected_with_type_error() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(TypeError, match=r"key 'loop'.*circular"):
        Context().set("loop", loop)


# --------------------------------------------------------------------------- Context methods


def test_get() -> None:
    ctx = Context({"a": 1, "n": None})
    assert ctx.get("a") == 1
    assert ctx.get("missing") is None
    assert ctx.get("missing", "dflt") == "dflt"
    assert ctx.get("n", "dflt") is None


def test_set_inserts_and_overwrites_and_copies() -> None:
    ctx = Context()
    value = [1]
    ctx.set("a", value)
    value.append(2)
    assert ctx["a"] == [1]
    ctx.set("a", "new")
    assert ctx["a"] == "new"


def test_set_rejects_bad_key_and_value() -> None:
    ctx = Context({"a": 1})
    with pytest.raises(TypeError, match="Context keys must be str"):
        ctx.set(None, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"key 'a'.*\(set at a\)"):
        ctx.set("a", {1})
    assert ctx["a"] == 1  # unchanged after a failed set


def test_insert() -> None:
    ctx = Context()
    ctx.insert("a", (1,))
    assert ctx["a"] == [1]
    with pytest.raises(ValueError, match=r"already has key 'a'.*set\(\).*update\(\)"):
        ctx.insert("a", 2)
    assert ctx["a"] == [1]
    with pytest.raises(TypeError, match=r"key 'b'.*bytes at b"):
        ctx.insert("b", b"x")
    assert "b" not in ctx


def test_update() -> None:
    ctx = Context({"a": 1})
    ctx.update("a", 2)
    assert ctx["a"] == 2
    with pytest.raises(KeyError, match=r"no key 'missing' to update.*set\(\).*insert\(\)"):
        ctx.update("missing", 1)
    assert "missing" not in ctx
    with pytest.raises(TypeError, match=r"key 'a'.*object at a"):
        ctx.update("a", object())
    assert ctx["a"] == 2


def test_remove() -> None:
    ctx = Context({"a": [1], "n": None})
    assert ctx.remove("a") == [1]
    assert "a" not in ctx
    assert ctx.remove("a") is None
    assert ctx.remove("n") is None
    assert len(ctx) == 0


def test_to_dict_is_a_deep_copy() -> None:
    ctx = Context({"a": {"b": [1]}})
    out = ctx.to_dict()
    out["a"]["b"].append(2)
    out["c"] = 3
    assert ctx.to_dict() == {"a": {"b": [1]}}


def test_update_from_dict() -> None:
    ctx = Context({"a": 1, "b": 2})
    source: dict[str, Any] = {"b": [20], "c": (3,)}
    ctx.update_from_dict(source)
    source["b"].append(21)
    assert ctx.to_dict() == {"a": 1, "b": [20], "c": [3]}
    ctx.update_from_dict(Context({"d": 4}))
    assert ctx["d"] == 4


def test_update_from_dict_is_all_or_nothing() -> None:
    ctx = Context({"a": 1})
    with pytest.raises(TypeError, match=r"key 'bad'.*\(datetime at bad\.when\)"):
        ctx.update_from_dict({"a": 100, "new": 1, "bad": {"when": datetime.datetime.now()}})
    assert ctx.to_dict() == {"a": 1}
    with pytest.raises(TypeError, match="Context keys must be str"):
        ctx.update_from_dict({"x": 1, 5: 1})  # type: ignore[dict-item]
    assert ctx.to_dict() == {"a": 1}
    with pytest.raises(TypeError, match="needs a dict"):
        ctx.update_from_dict([("a", 1)])  # type: ignore[arg-type]


def test_json_round_trip() -> None:
    ctx = Context({"s": "é\n", "i": 1, "f": 1.5, "b": True, "n": None, "l": [1, {"x": []}]})
    text = ctx.to_json()
    assert json.loads(text) == ctx.to_dict()
    assert " " not in text.replace("\\n", "")  # compact
    again = Context.from_json(text)
    assert again == ctx
    assert isinstance(again, Context)
    assert Context.from_json(text.encode()) == ctx


@pytest.mark.parametrize("text", ["[1, 2]", "1", '"s"', "null"])
def test_from_json_rejects_non_objects(text: str) -> None:
    with pytest.raises(ValueError, match="must be an object"):
        Context.from_json(text)


def test_from_json_rejects_invalid_json_and_nan() -> None:
    with pytest.raises(ValueError):
        Context.from_json("{not json")
    with pytest.raises(ValueError, match="NaN"):
        Context.from_json('{"x": NaN}')


def test_to_json_refuses_non_finite_floats_smuggled_in_through_trusted() -> None:
    with pytest.raises(ValueError):
        Context._trusted({"x": float("nan")}).to_json()


def test_len_contains_iter_keys_values_items() -> None:
    ctx = Context({"a": 1, "b": [2]})
    assert len(ctx) == 2
    assert "a" in ctx
    assert "z" not in ctx
    not_a_key: object = 1
    assert not_a_key not in ctx
    assert list(ctx) == ["a", "b"]
    assert list(ctx.keys()) == ["a", "b"]
    assert list(ctx.values()) == [1, [2]]
    assert list(ctx.items()) == [("a", 1), ("b", [2])]
    assert dict(ctx) == {"a": 1, "b": [2]}
    assert {**ctx} == {"a": 1, "b": [2]}


def test_getitem_setitem_delitem() -> None:
    ctx = Context()
    ctx["a"] = (1, 2)
    assert ctx["a"] == [1, 2]
    ctx["n"] = None
    assert ctx["n"] is None
    with pytest.raises(KeyError, match="no key 'missing'"):
        ctx["missing"]
    with pytest.raises(TypeError, match=r"key 'b'.*complex at b"):
        ctx["b"] = 1j
    del ctx["a"]
    assert "a" not in ctx
    with pytest.raises(KeyError, match="no key 'a' to delete"):
        del ctx["a"]


def test_equality() -> None:
    ctx = Context({"a": [1, 2]})
    assert ctx == Context({"a": [1, 2]})
    assert ctx == {"a": [1, 2]}
    assert ctx == MappingProxyType({"a": [1, 2]})
    assert ctx != {"a": [1]}
    assert ctx != Context()
    assert ctx != [("a", [1, 2])]
    assert ctx != "a"


def test_context_is_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Context())


def test_repr() -> None:
    assert repr(Context({"a": [1], "b": "x"})) == "Context({'a': [1], 'b': 'x'})"


def test_reads_return_the_stored_object() -> None:
    ctx = Context({"a": [1]})
    assert ctx.get("a") is ctx["a"]


def test_trusted_wraps_without_copy_or_validation() -> None:
    data: dict[str, Any] = {"a": [1]}
    ctx = Context._trusted(data)
    assert ctx.data is data
    data["b"] = 2
    assert ctx["b"] == 2
    # No validation: the engine is trusted to hand over decoded JSON.
    odd = Context._trusted({"when": datetime.date(2024, 1, 1)})
    assert "when" in odd


def test_data_property_is_live() -> None:
    ctx = Context({"a": 1})
    ctx.data["b"] = 2
    assert ctx["b"] == 2
    ctx.set("c", 3)
    assert ctx.data == {"a": 1, "b": 2, "c": 3}


def test_subclass_constructors_return_subclass() -> None:
    class Sub(Context):
        pass

    assert type(Sub._trusted({})) is Sub
    assert type(Sub.from_json("{}")) is Sub


# --------------------------------------------------------------------------- merge_contexts


def test_merge_no_outputs() -> None:
    assert merge_contexts([]) == {}


def test_merge_one_output_is_a_deep_copy() -> None:
    source: dict[str, Any] = {"a": {"b": [1, 1, (2,)]}}
    merged = merge_contexts([source])
    assert merged == {"a": {"b": [1, 1, [2]]}}
    merged["a"]["b"].append(3)
    assert source == {"a": {"b": [1, 1, (2,)]}}


def test_merge_disjoint_keys_keeps_order() -> None:
    assert list(merge_contexts([{"a": 1, "b": 2}, {"c": 3}])) == ["a", "b", "c"]


def test_merge_dicts_deep() -> None:
    merged = merge_contexts(
        [
            {"cfg": {"db": {"host": "a", "port": 1}, "keep": True}},
            {"cfg": {"db": {"port": 2, "user": "u"}, "new": [1]}},
        ]
    )
    assert merged == {
        "cfg": {"db": {"host": "a", "port": 2, "user": "u"}, "keep": True, "new": [1]}
    }


def test_merge_lists_union_in_order_without_duplicates() -> None:
    merged = merge_contexts([{"l": [3, 1]}, {"l": [1, 2, 3, 4, 2]}, {"l": [5, 4, 0]}])
    assert merged == {"l": [3, 1, 2, 4, 5, 0]}


def test_merge_keeps_duplicates_already_in_the_first_list() -> None:
    # Cloacina's rule: the earlier list is kept as is; only new items are deduplicated.
    assert merge_contexts([{"l": [1, 1]}, {"l": [1, 2]}]) == {"l": [1, 1, 2]}


def test_merge_lists_with_unhashable_items() -> None:
    merged = merge_contexts(
        [
            {"l": [{"id": 1}, [1, 2], "s"]},
            {"l": [{"id": 1}, {"id": 2}, [1, 2], [2, 1], "s", {"id": 2}, (1, 2)]},
        ]
    )
    assert merged == {"l": [{"id": 1}, [1, 2], "s", {"id": 2}, [2, 1]]}


def test_merge_lists_treat_bools_and_numbers_as_different() -> None:
    merged = merge_contexts([{"l": [1, 0, {"x": 1}]}, {"l": [True, False, 1.0, {"x": True}]}])
    assert merged == {"l": [1, 0, {"x": 1}, True, False, {"x": True}]}
    assert [type(x) for x in merged["l"][:4]] == [int, int, dict, bool]


def test_merge_lists_with_none_and_strings() -> None:
    assert merge_contexts([{"l": [None, "a"]}, {"l": ["a", None, "b"]}]) == {"l": [None, "a", "b"]}


def test_merge_scalar_later_wins() -> None:
    merged = merge_contexts([{"a": 1, "b": "x", "c": None}, {"a": 2, "c": True}, {"a": 3}])
    assert merged == {"a": 3, "b": "x", "c": True}


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ([1], {"k": 1}),
        ({"k": 1}, [1]),
        ([1], "s"),
        ({"k": 1}, None),
        (1, [1]),
        ("s", {"k": 1}),
    ],
)
def test_merge_type_clash_later_wins(earlier: Any, later: Any) -> None:
    assert merge_contexts([{"v": earlier}, {"v": later}]) == {"v": later}


def test_merge_later_wins_then_list_union_continues_on_the_new_list() -> None:
    merged = merge_contexts([{"v": [1, 2]}, {"v": "scalar"}, {"v": [3]}, {"v": [3, 4, 1]}])
    assert merged == {"v": [3, 4, 1]}


def test_merge_nested_lists_in_dicts() -> None:
    merged = merge_contexts(
        [{"d": {"tags": ["a"], "n": 1}}, {"d": {"tags": ["b", "a"]}}, {"d": {"tags": ["c"]}}]
    )
    assert merged == {"d": {"tags": ["a", "b", "c"], "n": 1}}


def test_merge_does_not_mutate_inputs_and_shares_no_structure() -> None:
    first: dict[str, Any] = {"d": {"x": [1, {"y": 1}]}, "l": [[1]], "only": {"k": [1]}}
    second: dict[str, Any] = {"d": {"x": [2, {"z": 2}], "w": {"q": []}}, "l": [[2]]}
    before = (copy.deepcopy(first), copy.deepcopy(second))
    merged = merge_contexts([first, second])
    assert (first, second) == before
    assert merged == {
        "d": {"x": [1, {"y": 1}, 2, {"z": 2}], "w": {"q": []}},
        "l": [[1], [2]],
        "only": {"k": [1]},
    }

    originals = _containers(first) | _containers(second)
    assert not (_containers(merged) & originals)

    merged["d"]["x"][1]["y"] = 100
    merged["d"]["x"][3]["z"] = 100
    merged["d"]["w"]["q"].append(1)
    merged["l"][0].append(1)
    merged["only"]["k"].append(1)
    assert (first, second) == before


def test_merge_result_is_independent_from_single_input() -> None:
    source: dict[str, Any] = {"a": [{"b": 1}]}
    merged = merge_contexts([source])
    assert not (_containers(merged) & _containers(source))


def test_merge_accepts_contexts_and_mappings() -> None:
    merged = merge_contexts([Context({"a": [1]}), MappingProxyType({"a": [2], "b": {"c": 1}})])
    assert merged == {"a": [1, 2], "b": {"c": 1}}


def test_merge_of_many_large_outputs_runs() -> None:
    outputs = [
        {
            **{f"k{i}": {"n": i, "out": o} for i in range(1000)},
            "shared": list(range(o * 10, o * 10 + 1000)),
            "records": [{"id": o}],
        }
        for o in range(100)
    ]
    merged = merge_contexts(outputs)
    assert len(merged) == 1002
    assert merged["k5"] == {"n": 5, "out": 99}
    assert merged["shared"] == list(range(990 + 1000))
    assert merged["records"] == [{"id": o} for o in range(100)]


def _containers(value: Any) -> set[int]:
    """ids of every dict and list inside ``value`` (including itself)."""
    found: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.add(id(item))
            stack.extend(item.values())
        elif isinstance(item, list):
            found.add(id(item))
            stack.extend(item)
    return found
