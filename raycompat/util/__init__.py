"""``ray.util``: helpers around tasks and actors."""

from __future__ import annotations

from ..actor import list_named_actors as list_named_actors

__all__ = ["list_named_actors"]
