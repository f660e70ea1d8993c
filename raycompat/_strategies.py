"""Scheduling strategies for ``.options(scheduling_strategy=...)`` (``ray.util.scheduling_strategies``).

Dask note: ``"DEFAULT"`` and ``"SPREAD"`` both leave placement to the Dask scheduler, which
already spreads work by worker occupancy. ``NodeAffinitySchedulingStrategy`` becomes a Dask
worker restriction to the node's host (``workers=[ip]``; ``allow_other_workers=soft``).
``PlacementGroupSchedulingStrategy`` restricts the task to the nodes its placement group
reserved. For actors the strategy is checked but the actor's process is placed by raycompat.
"""

from __future__ import annotations

import re
from typing import Any

_HEX_NODE_ID = re.compile(r"^[0-9a-fA-F]{56}$")


class PlacementGroupSchedulingStrategy:
    """Run the task or actor in a placement group's bundle.

    Args:
        placement_group: The PlacementGroup from ``ray.util.placement_group()``.
        placement_group_bundle_index: The bundle to use, or -1 for any of them.
        placement_group_capture_child_tasks: Accepted; child tasks are not captured.
    """

    def __init__(
        self,
        placement_group: Any,
        placement_group_bundle_index: int = -1,
        placement_group_capture_child_tasks: bool | None = None,
    ) -> None:
        self.placement_group = placement_group
        self.placement_group_bundle_index = placement_group_bundle_index
        self.placement_group_capture_child_tasks = placement_group_capture_child_tasks

    def __repr__(self) -> str:
        return (
            f"PlacementGroupSchedulingStrategy({self.placement_group!r}, "
            f"placement_group_bundle_index={self.placement_group_bundle_index})"
        )


class NodeAffinitySchedulingStrategy:
    """Run the task or actor on one node.

    Args:
        node_id: The node's hex id, from ``ray.nodes()`` or ``get_runtime_context().get_node_id()``.
        soft: If True, run elsewhere when the node is gone; if False, only there.

    Raises:
        ValueError: If ``node_id`` is not a node id.
    """

    def __init__(self, node_id: str, soft: bool, _spill_on_unavailable: bool = False, _fail_on_unavailable: bool = False) -> None:
        if not isinstance(node_id, str):
            node_id = node_id.hex()
        self.node_id = node_id
        self.soft = soft
        self._spill_on_unavailable = _spill_on_unavailable
        self._fail_on_unavailable = _fail_on_unavailable
        if not _HEX_NODE_ID.match(node_id) or set(node_id.lower()) == {"f"}:
            raise ValueError(
                f"Invalid node_id '{node_id}'. Node ID must be a valid hex string. To get a list of "
                "all nodes and their IDs in your cluster, use ray.nodes()."
            )
        if _spill_on_unavailable and not soft:
            raise ValueError(
                "_spill_on_unavailable cannot be set when soft is False. Please set soft to True to use _spill_on_unavailable."
            )
        if _fail_on_unavailable and soft:
            raise ValueError(
                "_fail_on_unavailable cannot be set when soft is True. Please set soft to False to use _fail_on_unavailable."
            )

    def __repr__(self) -> str:
        return f"NodeAffinitySchedulingStrategy(node_id={self.node_id!r}, soft={self.soft})"


class NodeLabelSchedulingStrategy:
    """Ray's label-based placement; raycompat cannot apply it (Dask nodes have no labels)."""

    def __init__(self, hard: dict[str, Any], *, soft: dict[str, Any] | None = None) -> None:
        self.hard = hard
        self.soft = soft


for _cls in (NodeAffinitySchedulingStrategy, NodeLabelSchedulingStrategy, PlacementGroupSchedulingStrategy):
    _cls.__module__ = "raycompat.util.scheduling_strategies"  # where users import them from
del _cls
