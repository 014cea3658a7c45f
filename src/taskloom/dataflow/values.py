"""How dataflow values are recorded: the core's safe codec, pickle only on opt-in.

auto_workflow tasks return arbitrary Python objects, but the journal stores
text that anyone with write access to the database could change, so values
go through :mod:`taskloom.core.codec`: plain JSON when exact, typed tags for
tuples, sets, bytes, dates, ``Decimal``, ``UUID``, enums, dataclasses and
models of known types, and -- only for a task or flow declared with
``serializer="pickle"`` -- a signed pickle. Nothing read back runs code.
"""

from __future__ import annotations

from typing import Any

from taskloom.core.codec import TAG, decode, encode, is_plain_json

__all__ = ["TAG", "decode_value", "encode_value", "is_plain_json"]


def encode_value(value: Any, what: str, *, allow_pickle: bool = False) -> str:
    """Record ``value``; ``what`` names its producer ("task 'add#0'") in errors."""
    return encode(value, what, allow_pickle=allow_pickle)


def decode_value(text: str) -> Any:
    """The value recorded by :func:`encode_value` (a fresh copy each time)."""
    return decode(text)
