"""Scheduling strategies for ``.options(scheduling_strategy=...)`` (``ray.util.scheduling_strategies``).

Dask note: ``"DEFAULT"`` and ``"SPREAD"`` both leave placement to the Dask scheduler, which
already spreads work by worker occupancy. ``NodeAffinitySchedulingStrategy`` becomes a Dask
worker restriction to the node's host (``workers=[ip]``; ``allow_other_workers=soft``).
``PlacementGroupSchedulingStrategy`` restricts the task to the nodes its placement group
reserved. For actors the strategy is checked but the actor's process is placed by raycompat.
"""

from __future__ import annotations

from .._strategies import (
    NodeAffinitySchedulingStrategy as NodeAffinitySchedulingStrategy,
    NodeLabelSchedulingStrategy as NodeLabelSchedulingStrategy,
    PlacementGroupSchedulingStrategy as PlacementGroupSchedulingStrategy,
)

__all__ = [
    "NodeAffinitySchedulingStrategy",
    "NodeLabelSchedulingStrategy",
    "PlacementGroupSchedulingStrategy",
]
