"""Installing raycompat's scheduler extensions on a cluster's scheduler, from a client.

Each is installed once per session (``backend.installed``) and once per scheduler (they are
idempotent there): the actor registry and the key ledger by every driver's Backend as it is
made, the others when first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .actor_registry import ActorRegistry
from .extension import Extension
from .generators import GeneratorMailbox
from .keys import KeyLedger
from .placement import PlacementTable

if TYPE_CHECKING:
    from ..backend import Backend


def ensure(backend: Backend, extension: type[Extension]) -> None:
    """Install ``extension`` on the backend's scheduler unless this session already did."""
    if extension.name not in backend.installed:
        backend.client.register_plugin(extension(), name=extension.name)
        backend.installed.add(extension.name)


def ensure_driver_extensions(backend: Backend) -> None:
    """Install what every driver needs: the actor registry and the key ledger."""
    ensure(backend, ActorRegistry)
    ensure(backend, KeyLedger)


def ensure_generator_mailbox(backend: Backend) -> None:
    ensure(backend, GeneratorMailbox)


def ensure_placement_table(backend: Backend) -> None:
    ensure(backend, PlacementTable)
