"""``ray.util``: helpers around tasks and actors.

Submodules Ray users import by path: ``actor_pool``, ``queue``, ``multiprocessing``,
``placement_group``, ``scheduling_strategies``, ``helpers``.
"""

from __future__ import annotations

from typing import Any

from .. import _session
from .._dask import nodes
from ..actor import list_named_actors as list_named_actors
from . import scheduling_strategies as scheduling_strategies
from .actor_pool import ActorPool as ActorPool
from .helpers import as_completed as as_completed, map_unordered as map_unordered
from .placement_group import (
    get_current_placement_group as get_current_placement_group,
    get_placement_group as get_placement_group,
    placement_group as placement_group,
    placement_group_table as placement_group_table,
    remove_placement_group as remove_placement_group,
)


def get_node_ip_address(address: Any = None) -> str:
    """Return the IP address of the node this process runs on.

    Dask note: in a task or actor, the host of its Dask worker; in the driver, the address by
    which it reaches the scheduler (127.0.0.1 for the embedded cluster). ``address`` is ignored.
    """
    ip = nodes.worker_ip()
    if ip is None:
        ip = nodes.local_ip(_session.current().client)
    return ip


__all__ = [
    "ActorPool",
    "as_completed",
    "get_current_placement_group",
    "get_node_ip_address",
    "get_placement_group",
    "list_named_actors",
    "map_unordered",
    "placement_group",
    "placement_group_table",
    "remove_placement_group",
    "scheduling_strategies",
]
