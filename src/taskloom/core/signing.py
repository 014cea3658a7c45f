"""Pickle only on request, and then signed: the one place taskloom unpickles.

Unpickling runs whatever code the pickle names, so a pickle read back from a
journal (a shared PostgreSQL database, a copied SQLite file) or an artifact
file is a way for anyone who can write there to run code in every worker
that reads it. taskloom therefore never writes a pickle unless a task or
flow asked for it (``serializer="pickle"``), and signs every pickle it
writes with HMAC-SHA256 under a key the user provides. Reading one checks
the signature with :func:`hmac.compare_digest` *before* ``pickle.loads``;
a pickle without a valid signature is refused, never loaded.

Pickles written by taskloom 0.1 carry no signature. They are refused too,
unless the user declares the journal trusted
(``configure_pickle(trust_unsigned=True)`` or
``TASKLOOM_TRUST_UNSIGNED_PICKLES=1``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import pickle
import threading
from typing import Any

from taskloom.errors import UnencodableValueError, ValueRefusedError

#: Environment variable holding the signing key (any string; use a long random one).
KEY_ENV_VAR = "TASKLOOM_PICKLE_KEY"
#: Environment variable that, set to 1, loads unsigned pickles (journals of taskloom 0.1).
TRUST_UNSIGNED_ENV_VAR = "TASKLOOM_TRUST_UNSIGNED_PICKLES"

#: Field of a recorded pickle that holds its signature.
SIGNATURE = "hmac_sha256"

_lock = threading.Lock()
_key: bytes | None = None
_trust_unsigned: bool | None = None

_OPT_IN = (
    f"opt in with @task(serializer='pickle') or @flow(serializer='pickle') and a signing key "
    f"(${KEY_ENV_VAR} or taskloom.configure_pickle(key=...))"
)


def configure_pickle(key: str | bytes | None = None, *, trust_unsigned: bool | None = None) -> None:
    """Set this process's pickle signing key and whether unsigned pickles may load.

    ``key`` overrides ``$TASKLOOM_PICKLE_KEY`` (``None`` goes back to the
    environment). Every process that writes or reads the same runs needs the
    same key. ``trust_unsigned=True`` loads pickles that carry no signature
    (what taskloom 0.1 wrote): only for a journal nobody else could write.
    """
    global _key, _trust_unsigned
    if key is not None and not isinstance(key, str | bytes):
        raise TypeError(f"configure_pickle(key=...) takes a str or bytes, got {type(key).__name__}")
    if key is not None and not key:
        raise ValueError("configure_pickle(key=...): the key must not be empty")
    if trust_unsigned is not None and not isinstance(trust_unsigned, bool):
        raise TypeError(f"configure_pickle(trust_unsigned={trust_unsigned!r}): give True or False")
    with _lock:
        _key = key.encode() if isinstance(key, str) else key
        _trust_unsigned = trust_unsigned


def signing_key() -> bytes | None:
    """The key set by :func:`configure_pickle`, else ``$TASKLOOM_PICKLE_KEY``, else None."""
    if _key is not None:
        return _key
    text = os.environ.get(KEY_ENV_VAR)
    return text.encode() if text else None


def trusts_unsigned() -> bool:
    """Whether unsigned (0.1) pickles may be loaded in this process."""
    if _trust_unsigned is not None:
        return _trust_unsigned
    return os.environ.get(TRUST_UNSIGNED_ENV_VAR, "").strip().lower() in ("1", "true", "yes")


def _sign(key: bytes, blob: bytes) -> str:
    return hmac.new(key, blob, hashlib.sha256).hexdigest()


def dump_signed(value: Any, what: str) -> dict[str, str]:
    """The recorded form of ``value`` as a signed pickle (the caller opted in)."""
    key = signing_key()
    if key is None:
        raise UnencodableValueError(
            f"{what} opted in to pickle (serializer='pickle') but no signing key is set: "
            f"set ${KEY_ENV_VAR} (the same in every process of the journal) or call "
            "taskloom.configure_pickle(key=...)"
        )
    try:
        import cloudpickle

        blob: bytes = cloudpickle.dumps(value)
    except Exception as exc:
        raise UnencodableValueError(
            f"{what} returned a {type(value).__name__}, which cannot be pickled either ({exc}); "
            "return data taskloom can record or register the type with taskloom.register_type"
        ) from None
    return {
        "__taskloom__": "pickle",
        "b64": base64.b64encode(blob).decode("ascii"),
        SIGNATURE: _sign(key, blob),
    }


def pickle_bytes(value: Any, what: str) -> tuple[bytes, str]:
    """``(pickle, signature)`` of ``value`` for a file of its own (artifacts)."""
    recorded = dump_signed(value, what)
    return base64.b64decode(recorded["b64"]), recorded[SIGNATURE]


def load_recorded(data: dict[str, Any]) -> Any:
    """The value of a recorded pickle, if its signature holds (or it is trusted)."""
    blob = _blob(data.get("b64"))
    signature = data.get(SIGNATURE)
    if signature is None:
        return load_unsigned(blob, "an unsigned pickle")
    return load_signed(blob, signature, "a signed pickle")


def load_signed(blob: bytes, signature: Any, what: str) -> Any:
    """``pickle.loads(blob)`` after checking ``signature`` against this process's key."""
    key = signing_key()
    if key is None:
        raise ValueRefusedError(
            f"{what} was not loaded: no signing key is set in this process; set "
            f"${KEY_ENV_VAR} (or taskloom.configure_pickle(key=...)) to the key it was written with"
        )
    if not isinstance(signature, str) or not hmac.compare_digest(_sign(key, blob), signature):
        raise ValueRefusedError(
            f"{what} was not loaded: its signature does not match this process's key (the "
            "value was altered after it was written, or signed with another key); "
            "unpickling it could run any code"
        )
    return pickle.loads(blob)


def load_unsigned(blob: bytes, what: str) -> Any:
    """``pickle.loads(blob)`` only if the user declared unsigned pickles trusted."""
    if not trusts_unsigned():
        raise ValueRefusedError(
            f"{what} (as taskloom 0.1 wrote, or planted by someone who can write the journal) "
            "was not loaded: unpickling it could run any code. If this journal and its files "
            f"were only ever written by you, set {TRUST_UNSIGNED_ENV_VAR}=1 or call "
            "taskloom.configure_pickle(trust_unsigned=True); new values are recorded safely, "
            f"or signed if you {_OPT_IN}"
        )
    return pickle.loads(blob)


def _blob(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueRefusedError("a recorded pickle has no data: the journal entry is damaged")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueRefusedError(
            "a recorded pickle is not valid base64: the journal entry is damaged"
        ) from None


OPT_IN_HINT = _OPT_IN
