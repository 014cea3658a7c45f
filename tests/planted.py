"""Planted payloads: pickles that create a marker file when something unpickles them.

Every test that plants one also proves the payload is live (``prove_live``),
so "the marker does not exist" can only mean the engine did not load it.
"""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'a').write('payload ran\\n')",))


def pickle_bytes(marker: Path) -> bytes:
    """A pickle whose loading appends to ``marker``."""
    return pickle.dumps(_Payload(marker))


def as_01_value(marker: Path) -> str:
    """The payload as taskloom 0.1 recorded pickled values in the journal."""
    b64 = base64.b64encode(pickle_bytes(marker)).decode("ascii")
    return json.dumps({"__taskloom__": "pickle", "b64": b64})


def prove_live(marker: Path) -> None:
    """Unpickle the payload in a child process: the marker appears, then is removed."""
    code = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    subprocess.run([sys.executable, "-c", code], input=pickle_bytes(marker), check=True, timeout=60)
    assert marker.read_text() == "payload ran\n"
    marker.unlink()
