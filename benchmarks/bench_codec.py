"""The value codec's cost: encode + decode of typical task values, against pickling.

What the safe codec (typed JSON, docs/reliability.md) costs per value
compared with what taskloom 0.1 recorded (JSON when exact, else cloudpickle,
base64 in JSON) and
with a signed pickle (the opt-in). No journal: the values alone.

Usage: python benchmarks/bench_codec.py [--repeats 7] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import pickle
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import cloudpickle
from common import measure_interleaved, report

import taskloom
from taskloom.core import signing
from taskloom.core.codec import decode, encode, is_plain_json


@dataclass
class Row:
    id: int
    name: str
    when: date
    price: Decimal


taskloom.register_type(Row)

#: 1000 calls of each value per measured sample.
CALLS = 1000

VALUES: dict[str, Any] = {
    "int": 42,
    "JSON dict (20 keys)": {f"k{i}": [i, str(i), i / 3] for i in range(20)},
    "tuple of 3 + set": ((1, "a", 2.5), {1, 2, 3}),
    "datetime + Decimal": (datetime(2026, 1, 2, 3, 4, tzinfo=UTC), Decimal("9.99")),
    "list of 50 dataclasses": [Row(i, f"n{i}", date(2026, 1, 1), Decimal(i)) for i in range(50)],
}


def _pickled(value: Any) -> str:
    """What taskloom 0.1 recorded: JSON when exact, else a base64 cloudpickle."""
    if is_plain_json(value):
        return json.dumps(value, separators=(",", ":"))
    return json.dumps(
        {"__taskloom__": "pickle", "b64": base64.b64encode(cloudpickle.dumps(value)).decode()}
    )


def _unpickled(text: str) -> Any:
    data = json.loads(text)
    if type(data) is dict and data.get("__taskloom__") == "pickle":
        return pickle.loads(base64.b64decode(data["b64"]))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    repeats = max(5, args.repeats)
    taskloom.configure_pickle(key="bench-key")
    cases: dict[str, dict[str, Any]] = {}
    for label, value in VALUES.items():
        assert decode(encode(value, "bench")) == value

        def safe(value: Any = value) -> None:
            for _ in range(CALLS):
                decode(encode(value, "bench"))

        def old_pickle(value: Any = value) -> None:
            for _ in range(CALLS):
                _unpickled(_pickled(value))

        def signed(value: Any = value) -> None:
            for _ in range(CALLS):
                decode(json.dumps(signing.dump_signed(value, "bench")))

        found = measure_interleaved(
            {"safe codec": safe, "0.1 codec": old_pickle, "signed pickle (opt-in)": signed},
            repeats,
        )
        for name, figures in found.items():
            cases[f"{label}: {name}"] = figures | {
                "per_value_us": figures["median_s"] / CALLS * 1e6
            }
    report("codec", cases, args.out)
    print(f"(each figure: {CALLS} encode+decode round trips)")


if __name__ == "__main__":
    main()
