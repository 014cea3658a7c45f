"""Twin of ``auto_workflow.secrets`` (taskloom.dataflow.hooks.secrets).

``DummyVaultSecrets(prefix)`` reads ``prefix + key`` from the environment,
which is what auto_workflow's placeholder does; taskloom calls it
``PrefixedEnvSecrets``.
"""

from taskloom.dataflow.hooks.secrets import (
    EnvSecrets,
    PrefixedEnvSecrets,
    SecretsProvider,
    StaticMappingSecrets,
    secret,
    set_secrets_provider,
)

DummyVaultSecrets = PrefixedEnvSecrets

__all__ = [
    "DummyVaultSecrets",
    "EnvSecrets",
    "SecretsProvider",
    "StaticMappingSecrets",
    "secret",
    "set_secrets_provider",
]
