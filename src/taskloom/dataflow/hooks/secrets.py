"""auto_workflow's secrets lookup: ``secret(key)`` through a swappable provider.

A provider has ``get(key) -> str | None``. The default reads the process
environment; :class:`StaticMappingSecrets` serves a dict (tests, or values
loaded by the application); :class:`PrefixedEnvSecrets` reads ``prefix + key``
from the environment (auto_workflow calls its version ``DummyVaultSecrets``).
Secrets never pass through the journal: read them inside the task that
needs them rather than passing them as arguments, which are recorded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol


class SecretsProvider(Protocol):
    """Where ``secret(key)`` looks."""

    def get(self, key: str) -> str | None: ...


class EnvSecrets:
    """Secrets are environment variables."""

    def get(self, key: str) -> str | None:
        return os.environ.get(key)


class PrefixedEnvSecrets:
    """Secrets are environment variables named ``prefix + key``."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def get(self, key: str) -> str | None:
        return os.environ.get(self.prefix + key)


class StaticMappingSecrets:
    """Secrets from a mapping given up front."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self.data = dict(data)

    def get(self, key: str) -> str | None:
        return self.data.get(key)


_provider: SecretsProvider = EnvSecrets()


def set_secrets_provider(provider: SecretsProvider) -> None:
    """Look secrets up in ``provider`` from now on."""
    global _provider
    if not callable(getattr(provider, "get", None)):
        raise TypeError(f"set_secrets_provider({provider!r}): a provider needs get(key)")
    _provider = provider


def get_secrets_provider() -> SecretsProvider:
    """The provider in use."""
    return _provider


def secret(key: str) -> str | None:
    """The secret called ``key``, or None if the provider has none."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"secret({key!r}): the key must be a non-empty str")
    return _provider.get(key)


__all__ = [
    "EnvSecrets",
    "PrefixedEnvSecrets",
    "SecretsProvider",
    "StaticMappingSecrets",
    "get_secrets_provider",
    "secret",
    "set_secrets_provider",
]
