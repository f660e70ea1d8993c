"""Installing raycompat's scheduler extensions on a cluster's scheduler, from a client."""

from __future__ import annotations

from typing import Any

from .generators import GeneratorMailbox
from .actor_registry import ActorRegistry


def ensure_installed(client: Any) -> None:
    """Install the actor registry on the client's scheduler (once per cluster: it is idempotent)."""
    client.register_plugin(ActorRegistry(), name=ActorRegistry.name)


def ensure_generator_mailbox(backend: Any) -> None:
    """Install the generators' mailbox on the backend's scheduler, once per session."""
    if GeneratorMailbox.name not in backend.installed:
        backend.client.register_plugin(GeneratorMailbox(), name=GeneratorMailbox.name)
        backend.installed.add(GeneratorMailbox.name)
