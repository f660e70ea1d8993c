"""Placement groups: reserve bundles of resources, then run tasks and actors in them
(``ray.util.placement_group``).

Dask note: Dask has no reservations. Creating a group checks that the cluster's free resources
(``ray.available_resources()``, less the bundles of the groups already reserved) hold every
bundle, with the strategy's node rules, and retries every half second until they do; until
then ``pg.ready()`` stays pending. Once reserved, tasks in the group are restricted to the
hosts of its bundles' nodes, but nothing stops other work from using the same resources.
Tasks submitted before the group is reserved wait for it and then run on any node. Child
tasks are not captured, and ``lifetime="detached"`` groups end with the cluster.
"""

from __future__ import annotations

import uuid
import warnings
from typing import Any

from .. import _session
from .._dask import nodes as _nodes
from .._dask import placement as _engine
from .._dask.placement import (
    VALID_PLACEMENT_GROUP_STRATEGIES as VALID_PLACEMENT_GROUP_STRATEGIES,
)
from .._dask.placement import (
    PlacementGroup as PlacementGroup,
)
from .._dask.placement import (
    check_placement_group_index as check_placement_group_index,
)


def _validate_bundles(bundles: Any) -> None:
    if not isinstance(bundles, list):
        raise ValueError(f"Placement group bundles must be a list, got {type(bundles)}.")
    if not bundles:
        raise ValueError(
            'Bundles must be a non-empty list of resource dictionaries. For example: `[{"CPU": 1.0}, '
            '{"GPU": 1.0}]`. Got empty list instead.'
        )
    for bundle in bundles:
        if (
            not isinstance(bundle, dict)
            or not all(isinstance(k, str) for k in bundle)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bundle.values())
        ):
            raise ValueError(
                'Bundles must be a non-empty list of resource dictionaries. For example: `[{"CPU": 1.0}, {"GPU": 1.0}]`.'
            )
        if not bundle or all(v == 0 for v in bundle.values()):
            raise ValueError(f"Bundles cannot be an empty dictionary or resources with only 0 values. Bundles: {bundles}")
        if any(v < 0 for v in bundle.values()):
            raise ValueError(f"Bundle resources cannot be negative. Bundles: {bundles}")


def _refuse_labels(**given: Any) -> None:
    for option, value in given.items():
        if value is not None:
            raise NotImplementedError(
                f"placement_group({option}=...) is not supported by raycompat: Dask nodes have no "
                "labels or topology. Drop the argument, or use NodeAffinitySchedulingStrategy."
            )


def placement_group(
    bundles: list[dict[str, float]],
    strategy: str | None = None,
    name: str = "",
    lifetime: str | None = None,
    _soft_target_node_id: str | None = None,
    bundle_label_selector: list[dict[str, str]] | None = None,
    topology_strategy: dict[str, str] | None = None,
) -> PlacementGroup:
    """Reserve ``bundles`` of resources in the background and return the group at once.

    Args:
        bundles: One dict of resources per bundle, e.g. ``[{"CPU": 1}, {"CPU": 1}]``.
        strategy: ``"PACK"`` (default), ``"SPREAD"``, ``"STRICT_PACK"`` or ``"STRICT_SPREAD"``.
        name: A name for ``get_placement_group()``.
        lifetime: None, or ``"detached"`` (accepted; see the module's Dask note).

    Returns:
        A PlacementGroup; ``ray.get(pg.ready())`` or ``pg.wait()`` waits for the reservation.

    Raises:
        ValueError: For invalid bundles, strategy or lifetime, or a name already in use.
        NotImplementedError: For label selectors, topology strategies and target nodes.
    """
    if topology_strategy is not None and strategy is not None:
        raise ValueError(
            "`strategy` and `topology_strategy` cannot both be specified. Pass node-level "
            "packing via `topology_strategy['ray.io/node-id']`."
        )
    if strategy is not None and strategy not in VALID_PLACEMENT_GROUP_STRATEGIES:
        raise ValueError(
            f"Invalid placement group strategy {strategy}. Supported strategies are: "
            f"{VALID_PLACEMENT_GROUP_STRATEGIES}."
        )
    _validate_bundles(bundles)
    if lifetime not in (None, "detached"):
        raise ValueError(f"Placement group `lifetime` argument must be either `None` or 'detached'. Got {lifetime}.")
    _refuse_labels(
        _soft_target_node_id=_soft_target_node_id,
        bundle_label_selector=bundle_label_selector,
        topology_strategy=topology_strategy,
    )
    for bundle in bundles:
        if "object_store_memory" in bundle:
            warnings.warn(
                "Setting 'object_store_memory' for bundles has no effect on Dask; it is ignored.",
                UserWarning,
                stacklevel=2,
            )
    clean = [{k: float(v) for k, v in b.items() if k != "object_store_memory" and v} for b in bundles]
    pg = PlacementGroup(uuid.uuid4().hex[:36], clean)
    entry = {
        "id": pg.id,
        "name": name,
        "bundles": clean,
        "strategy": strategy or "PACK",
        "state": "PENDING",
        "hosts": [],
        "detached": lifetime == "detached",
    }
    _engine.create(_session.current(), entry, pg)
    return pg


def remove_placement_group(placement_group: PlacementGroup) -> None:
    """Release the group's reservation; its pending ``ready()`` ref is cancelled.

    Raises:
        TypeError: If ``placement_group`` is not a PlacementGroup.
    """
    if not isinstance(placement_group, PlacementGroup):
        raise TypeError(f"remove_placement_group() takes a PlacementGroup, got {type(placement_group)}.")
    _engine.remove(_session.current(), placement_group.id)


def get_placement_group(placement_group_name: str) -> PlacementGroup:
    """Return the live placement group named ``placement_group_name``.

    Raises:
        ValueError: If the name is empty or no such group exists.
    """
    if not placement_group_name:
        raise ValueError("Please supply a non-empty value to get_placement_group")
    entry = _engine.lookup(_session.current(), name=placement_group_name)
    if entry is None:
        raise ValueError(f"Failed to look up placement group with name: {placement_group_name}")
    return PlacementGroup(entry["id"], entry["bundles"])


def placement_group_table(placement_group: PlacementGroup | None = None) -> dict[str, Any]:
    """Describe one group, or all groups by id, with Ray's main keys."""

    def describe(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "placement_group_id": entry["id"],
            "name": entry["name"],
            "bundles": dict(enumerate(entry["bundles"])),
            "bundles_to_node_id": {i: _nodes.node_id(h) for i, h in enumerate(entry["hosts"])},
            "strategy": entry["strategy"],
            "state": entry["state"],
        }

    backend = _session.current()
    if placement_group is not None:
        entry = _engine.lookup(backend, pg_id=placement_group.id)
        return describe(entry) if entry is not None else {}
    return {e["id"]: describe(e) for e in _engine.table(backend)}


def get_current_placement_group() -> PlacementGroup | None:
    """Return None: tasks do not know their placement group here (children are never captured)."""
    return None

PlacementGroup.__module__ = __name__  # users meet it as ray.util.placement_group.PlacementGroup
