"""The value codec: typed round trips, known types only, pickle only opted in and signed."""

from __future__ import annotations

import base64
import json
import pickle
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pydantic
import pytest

import taskloom
from taskloom import UnencodableValueError, ValueRefusedError, flow, task
from taskloom.core import codec, known_types, signing
from taskloom.core.codec import TAG, decode, encode


@pytest.fixture(autouse=True)
def _no_pickle_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(signing.KEY_ENV_VAR, raising=False)
    monkeypatch.delenv(signing.TRUST_UNSIGNED_ENV_VAR, raising=False)
    taskloom.configure_pickle()
    saved = dict(known_types._by_class), dict(known_types._by_name)
    yield
    taskloom.configure_pickle()
    known_types._by_class.clear()
    known_types._by_class.update(saved[0])
    known_types._by_name.clear()
    known_types._by_name.update(saved[1])


class Color(Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Point:
    x: int
    y: int
    tags: tuple[str, ...] = ()
    seen: int = field(default=0, init=False)


class Span(NamedTuple):
    start: date
    end: date


class Order(pydantic.BaseModel):
    id: uuid.UUID
    total: Decimal
    at: datetime


class Meters:
    """A class taskloom cannot record by itself."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Meters) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


def roundtrip(value: Any) -> Any:
    return decode(encode(value, "test value"))


def test_plain_json_stays_plain_and_readable() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": []}}
    text = encode(value, "v")
    assert json.loads(text) == value and TAG not in text
    assert roundtrip(value) == value


@pytest.mark.parametrize(
    "value",
    [
        (1, "a", (2, 3)),
        {1, 2, 3},
        frozenset({"a", "b"}),
        b"\x00\xffraw",
        bytearray(b"buf"),
        datetime(2026, 12, 4, 13, 0, 5, 123, tzinfo=UTC),
        datetime(2026, 12, 4, 13, 0, tzinfo=timezone(timedelta(hours=-3))),
        datetime(2026, 12, 4, 13, 0),
        date(2026, 12, 4),
        time(13, 5, 7, 9),
        timedelta(days=2, seconds=5, microseconds=7),
        Decimal("12.345678901234567890"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        float("inf"),
        {(1, 2): "tuple key", 3: "int key"},
        {TAG: "not ours", "x": 1},
        [{"nested": ({1}, [b"b", (Decimal("1"),)])}],
    ],
)
def test_non_json_values_come_back_with_their_types(value: Any) -> None:
    back = roundtrip(value)
    assert back == value and type(back) is type(value)


def test_a_zoned_datetime_keeps_its_zone() -> None:
    value = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Paris"))
    back = roundtrip(value)
    assert back == value and back.tzinfo == ZoneInfo("Europe/Paris")


def test_nan_comes_back_as_nan() -> None:
    back = roundtrip([float("nan")])
    assert back[0] != back[0]


def test_registered_and_annotated_types_are_rebuilt_nested() -> None:
    taskloom.register_type(Point)

    @task
    def make(order: Order) -> tuple[Span, Color]:
        return Span(date(2026, 1, 1), date(2026, 1, 2)), Color.RED

    order = Order(id=uuid.uuid4(), total=Decimal("9.99"), at=datetime(2026, 1, 1, tzinfo=UTC))
    point = Point(1, 2, ("a",))
    object.__setattr__(point, "seen", 5)
    value = {
        "p": [point],
        "span": Span(date(2026, 1, 1), date(2026, 2, 1)),
        "c": Color.BLUE,
        "order": order,
    }
    back = roundtrip(value)
    assert back == value
    assert type(back["p"][0]) is Point and back["p"][0].tags == ("a",) and back["p"][0].seen == 5
    assert type(back["span"]) is Span and type(back["span"].start) is date
    assert back["c"] is Color.BLUE
    assert type(back["order"]) is Order and back["order"].total == Decimal("9.99")


def test_a_custom_class_is_recorded_through_its_functions() -> None:
    taskloom.register_type(
        Meters, name="units.Meters", encode=lambda m: m.value, decode=lambda v: Meters(v)
    )
    text = encode([Meters(2.5)], "v")
    assert '"units.Meters"' in text
    assert decode(text) == [Meters(2.5)]


def test_register_type_refuses_what_it_cannot_record() -> None:
    with pytest.raises(TypeError, match=r"Meters.*encode=.*decode="):
        taskloom.register_type(Meters)
    with pytest.raises(TypeError, match="both encode= and decode="):
        taskloom.register_type(Meters, encode=lambda m: m.value)
    with pytest.raises(TypeError, match="give a class"):
        taskloom.register_type(Meters(1.0))  # type: ignore[arg-type]


def test_an_unknown_type_fails_naming_the_producer_the_type_and_the_fix() -> None:
    @dataclass
    class Unannotated:
        x: int

    with pytest.raises(
        UnencodableValueError,
        match=r"task 'make#0' returned a dict with a "
        r".*Unannotated at value\['k'\]\[1\].*register_type\(.*Unannotated\)",
    ):
        encode({"k": [1, Unannotated(1)]}, "task 'make#0'")
    with pytest.raises(UnencodableValueError, match=r"_thread.lock.*encode=.*serializer='pickle'"):
        encode(threading.Lock(), "task 'lock#0'")
    assert issubclass(UnencodableValueError, TypeError)


def test_decoding_never_calls_a_class_the_journal_names() -> None:
    # A dataclass that exists in this process but was never made known.
    @dataclass
    class Secret:
        x: int

    text = json.dumps(
        {TAG: "dataclass", "type": known_types.qualified_name(Secret), "data": {"x": 1}}
    )
    with pytest.raises(ValueRefusedError, match="does not know"):
        decode(text)
    with pytest.raises(ValueRefusedError, match="unknown kind 'exec'"):
        decode(json.dumps({TAG: "exec", "code": "print(1)"}))
    with pytest.raises(ValueRefusedError, match="damaged"):
        decode(json.dumps({TAG: "tuple"}))


def _planted(marker: Path) -> str:
    """The journal text of a pickle that creates ``marker`` when it is loaded."""

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    return base64.b64encode(pickle.dumps(Payload())).decode()


def test_an_unsigned_pickle_is_refused_unless_trusted(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = json.dumps({TAG: "pickle", "b64": _planted(marker)})
    with pytest.raises(
        ValueRefusedError, match=r"unsigned pickle.*TASKLOOM_TRUST_UNSIGNED_PICKLES"
    ):
        decode(text)
    assert not marker.exists()
    # The payload is live: trusting unsigned pickles really loads it.
    taskloom.configure_pickle(trust_unsigned=True)
    decode(text)
    assert marker.read_text() == "ran"


def test_pickle_needs_the_opt_in_and_a_key_and_is_signed() -> None:
    with pytest.raises(UnencodableValueError, match="no signing key"):
        encode(Meters(1.0), "task 'm#0'", allow_pickle=True)
    taskloom.configure_pickle(key="k1")
    text = encode(Meters(1.0), "task 'm#0'", allow_pickle=True)
    assert json.loads(text)[signing.SIGNATURE]
    assert decode(text) == Meters(1.0)
    # Another key, no key, or a changed byte: refused before anything is loaded.
    taskloom.configure_pickle(key="k2")
    with pytest.raises(ValueRefusedError, match="signature does not match"):
        decode(text)
    taskloom.configure_pickle()
    with pytest.raises(ValueRefusedError, match="no signing key"):
        decode(text)


def test_a_tampered_signed_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    taskloom.configure_pickle(key="secret")
    record = json.loads(encode(Meters(1.0), "v", allow_pickle=True))
    record["b64"] = _planted(marker)  # the attacker keeps the old signature
    with pytest.raises(ValueRefusedError, match="signature does not match"):
        decode(json.dumps(record))
    record[signing.SIGNATURE] = "0" * 64  # or makes one up
    with pytest.raises(ValueRefusedError, match="signature does not match"):
        decode(json.dumps(record))
    assert not marker.exists()


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(signing.KEY_ENV_VAR, "from-env")
    text = encode(Meters(3.0), "v", allow_pickle=True)
    assert decode(text) == Meters(3.0)
    monkeypatch.setenv(signing.KEY_ENV_VAR, "other")
    with pytest.raises(ValueRefusedError):
        decode(text)


def test_bad_serializer_options_fail_at_decoration() -> None:
    with pytest.raises(ValueError, match=r"task 'bad': serializer='yaml'.*'json'.*'pickle'"):

        @task(serializer="yaml")
        def bad() -> None: ...

    with pytest.raises(ValueError, match=r"@flow 'f': serializer='pickled'"):

        @flow(serializer="pickled")
        def f() -> None: ...

    with pytest.raises(TypeError, match="str or bytes"):
        taskloom.configure_pickle(key=123)  # type: ignore[arg-type]


def test_values_flow_between_tasks_with_their_types(db_url: str) -> None:
    @task
    def split(text: str) -> tuple[set[str], Point]:
        return set(text.split()), Point(1, 2)

    @task
    def describe(parts: tuple[set[str], Point]) -> dict[str, Any]:
        words, point = parts
        assert isinstance(words, set) and isinstance(point, Point)
        return {"n": len(words), "point": point, "when": date(2026, 1, 1)}

    @flow
    def pipeline(text: str) -> Any:
        return describe(split(text))

    assert pipeline.run("a b a", db=db_url) == {
        "n": 2,
        "point": Point(1, 2),
        "when": date(2026, 1, 1),
    }


def test_a_flow_that_opts_in_pickles_signed_values(db_url: str) -> None:
    @task
    def measure() -> Any:
        return Meters(4.0)

    @flow(serializer="pickle")
    def measured() -> Any:
        return measure()

    with pytest.raises(Exception, match="no signing key"):
        measured.run(db=db_url)
    taskloom.configure_pickle(key="flow-key")
    assert measured.run(db=db_url) == Meters(4.0)


def test_every_kind_is_decodable() -> None:
    assert set(codec._DECODERS) >= {"tuple", "set", "dict", "pickle", "dataclass", "model"}


@dataclass
class LearnedMeanwhile:
    n: int


def test_a_type_another_thread_is_learning_is_waited_for() -> None:
    """Found by the whole suite under load: a thread that missed a type while another
    thread was reading the pending annotations (off the list already, not yet noted)
    was told the type is unknown."""

    @task
    def make() -> LearnedMeanwhile:
        return LearnedMeanwhile(1)

    found: list[object] = []
    asker = threading.Thread(target=lambda: found.append(known_types.by_class(LearnedMeanwhile)))
    with known_types._lock:  # this thread is the reader, half-way through
        pending = list(known_types._pending)
        known_types._pending.clear()
        asker.start()
        asker.join(0.5)  # without waiting for the reader, it has answered by now
        for fn in pending:
            known_types._note_hints(known_types.typing_hints(fn), set())
    asker.join(10)
    assert found and found[0] is not None
