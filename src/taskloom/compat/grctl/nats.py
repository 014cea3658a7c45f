"""Twin of ``grctl.nats`` (where ``Connection`` lived in earlier grctl versions)."""

from __future__ import annotations

from taskloom.compat.grctl.client import Connection

__all__ = ["Connection"]
