"""Placement groups and scheduling strategies on Dask.

A placement group is an entry in the scheduler's table (``scheduler/placement.py``). Reserving
it means finding, for each bundle, a node (a Dask worker host) whose free resources hold it,
after the bundles of the groups already reserved; the process that created the group retries
until that works. The group's *ready key* is a gate task, submitted at once, that gives back its
thread slot (``secede``) and waits on a ``distributed.Event`` set when the reservation works;
``pg.ready()`` names that key, and tasks submitted into a group not yet reserved depend on it.
Tasks in a reserved group are restricted to its nodes' hosts (Dask's ``workers=[ip]``).
"""

from __future__ import annotations

import threading
from typing import Any

from distributed import Event, Future, secede

from .. import exceptions
from . import backend as backends
from . import nodes as _nodes
from .backend import Backend
from .refs import ObjectRef, rebuild_ref
from .scheduler import install

RETRY_SECONDS = 0.5  # how often a pending group looks again for room
VALID_PLACEMENT_GROUP_STRATEGIES = {"PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"}


def _table(backend: Backend) -> Any:
    """The scheduler, with the placement group table (scheduler/placement.py) installed on it."""
    install.ensure_placement_table(backend)
    return backend.client.scheduler


def ready_key(pg_id: str) -> str:
    return f"placement_group_ready-{pg_id}"


def _gate(event_name: str, value: Any) -> Any:
    """Dask task behind ``pg.ready()``: wait, without holding a thread slot, for the reservation."""
    secede()
    Event(event_name).wait()
    return value


# -- reserving ----------------------------------------------------------------------------------


def _fits(bundle: dict[str, float], free: dict[str, float]) -> bool:
    return all(free.get(k, 0.0) + 1e-9 >= v for k, v in bundle.items() if v)


def _take(bundle: dict[str, float], free: dict[str, float]) -> None:
    for k, v in bundle.items():
        free[k] = free.get(k, 0.0) - v


def place(bundles: list[dict[str, float]], strategy: str, free: dict[str, dict[str, float]]) -> list[str] | None:
    """Choose a host for each bundle, or None if ``strategy`` cannot be met with ``free``."""
    free = {host: dict(res) for host, res in free.items()}
    hosts = list(free)
    if strategy in ("PACK", "STRICT_PACK"):
        for host in hosts:
            trial = dict(free[host])
            if all(_fits(b, trial) and (_take(b, trial) or True) for b in bundles):
                return [host] * len(bundles)
        if strategy == "STRICT_PACK":
            return None
    chosen: list[str] = []
    for bundle in bundles:
        unused = [h for h in hosts if h not in chosen]
        candidates = unused if strategy in ("SPREAD", "STRICT_SPREAD") else []
        if strategy != "STRICT_SPREAD":
            candidates = candidates + [h for h in hosts if h not in candidates]
        host = next((h for h in candidates if _fits(bundle, free[h])), None)
        if host is None:
            return None
        _take(bundle, free[host])
        chosen.append(host)
    return chosen


def _free_resources(backend: Backend, skip: str) -> dict[str, dict[str, float]]:
    """Each node's resources not in use now and not reserved by another placement group."""
    free: dict[str, dict[str, float]] = {}
    for node in _nodes.nodes(backend.client, usage=True):
        used = node.used()
        free[node.host] = {k: v - used.get(k, 0.0) for k, v in node.total().items()}
    for entry in backend.client.sync(_table(backend).raycompat_pg_list):
        if entry["id"] == skip or entry["state"] != "CREATED":
            continue
        for bundle, host in zip(entry["bundles"], entry["hosts"]):
            if host in free:
                _take(bundle, free[host])
    return free


class _Reserver:
    """In the creating process: retries the reservation until it works or the group is removed."""

    def __init__(self, backend: Backend, entry: dict[str, Any], value: Any) -> None:
        self.backend = backend
        self.entry = entry
        self.stop = threading.Event()
        key = ready_key(entry["id"])
        # The gate: held while the group lives, so that pg.ready() and waiting tasks can use it.
        self.future: Any = backend.client.submit(_gate, key, value, key=key, pure=False)
        threading.Thread(target=self._run, name=f"placement-group-{entry['id'][:8]}", daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                if self._try():
                    return
            except Exception:  # the session is closing
                if self.backend.client.status in ("closing", "closed"):
                    return
            self.stop.wait(RETRY_SECONDS)

    def _try(self) -> bool:
        hosts = place(self.entry["bundles"], self.entry["strategy"], _free_resources(self.backend, self.entry["id"]))
        if hosts is None:
            return False
        client = self.backend.client
        if not client.sync(_table(self.backend).raycompat_pg_reserve, pg_id=self.entry["id"], hosts=hosts):
            return True  # removed meanwhile
        self.backend.group_hosts[self.entry["id"]] = hosts
        Event(ready_key(self.entry["id"]), client=self.backend.client).set()
        return True


def create(backend: Backend, entry: dict[str, Any], value: Any) -> None:
    """Register the group and start reserving it in the background."""
    if not backend.client.sync(_table(backend).raycompat_pg_create, entry=entry):
        raise ValueError(
            f"A placement group named {entry['name']!r} already exists. Choose another name, or "
            f"use ray.util.get_placement_group({entry['name']!r})."
        )
    backend.reservations[entry["id"]] = _Reserver(backend, dict(entry), value)


def remove(backend: Backend, pg_id: str) -> None:
    backend.client.sync(_table(backend).raycompat_pg_remove, pg_id=pg_id)
    reserver = backend.reservations.pop(pg_id, None)
    if reserver is not None:
        reserver.stop.set()
        backend.client.cancel([reserver.future], reason="placement group removed")
        reserver.future = None
    backend.group_hosts.pop(pg_id, None)


def lookup(backend: Backend, pg_id: str | None = None, name: str | None = None) -> dict[str, Any] | None:
    if pg_id is not None:
        return backend.client.sync(_table(backend).raycompat_pg_get, pg_id=pg_id)  # type: ignore[no-any-return]
    return backend.client.sync(_table(backend).raycompat_pg_get_named, name=name)  # type: ignore[no-any-return]


def table(backend: Backend) -> list[dict[str, Any]]:
    return backend.client.sync(_table(backend).raycompat_pg_list)  # type: ignore[no-any-return]


def wait(backend: Backend, pg_id: str, timeout: float) -> bool:
    entry = backend.client.sync(_table(backend).raycompat_pg_wait, pg_id=pg_id, timeout=timeout)
    return entry is not None and entry["state"] == "CREATED"


# -- where a task may run --------------------------------------------------------------------


def task_placement(backend: Backend, strategy: Any, group: Any = None, bundle_index: int | None = None) -> tuple[list[str] | None, bool, Any]:
    """Map Ray's scheduling options to Dask's: (workers, allow_other_workers, ready future or None).

    The ready future, if any, is a dependency the task must wait for: its placement group is
    not reserved yet.
    """
    if group is None and hasattr(strategy, "placement_group"):
        group, bundle_index = strategy.placement_group, strategy.placement_group_bundle_index
    if group is not None and not isinstance(group, str):  # "default" means no group
        return _group_placement(backend, group, -1 if bundle_index is None else bundle_index)
    node_id = getattr(strategy, "node_id", None)
    if node_id is not None:
        host = _host_of_node(backend, node_id)
        if host is None:
            if strategy.soft:
                return None, False, None
            raise exceptions.TaskUnschedulableError(
                f"The node {node_id} given to NodeAffinitySchedulingStrategy(soft=False) does not "
                "exist. Take a NodeID from ray.nodes(), or pass soft=True to run elsewhere."
            )
        return [host], bool(strategy.soft), None
    return None, False, None


def _host_of_node(backend: Backend, node_id: str) -> str | None:
    for node in _nodes.nodes(backend.client):
        if node.node_id == node_id:
            return node.host
    return None


def _group_placement(backend: Backend, group: Any, bundle_index: int) -> tuple[list[str] | None, bool, Any]:
    pg_id = group.id.hex() if hasattr(group.id, "hex") and not isinstance(group.id, str) else str(group.id)
    hosts = backend.group_hosts.get(pg_id)
    if hosts is None:
        entry = lookup(backend, pg_id=pg_id)
        if entry is None or entry["state"] == "REMOVED":
            raise ValueError(
                f"The placement group {pg_id} was removed or never existed. Create one with "
                "ray.util.placement_group(bundles) and schedule into it before removing it."
            )
        if entry["state"] == "CREATED":
            hosts = backend.group_hosts[pg_id] = entry["hosts"]
    if hosts is None:  # not reserved yet: the task waits for the ready key
        return None, False, Future(ready_key(pg_id), backend.client)
    chosen = hosts if bundle_index == -1 else [hosts[bundle_index]]
    return sorted(set(chosen)), False, None


# -- the handle ----------------------------------------------------------------------------


class PlacementGroup:
    """A handle to a placement group: pass it to ``PlacementGroupSchedulingStrategy``.

    It pickles, so tasks and actors can receive it.
    """

    def __init__(self, id: str, bundle_cache: list[dict[str, float]] | None = None) -> None:
        self.id = id
        self._bundles = bundle_cache

    @staticmethod
    def empty() -> PlacementGroup:
        return PlacementGroup("")

    def is_empty(self) -> bool:
        return not self.id

    def ready(self) -> ObjectRef[PlacementGroup]:
        """Return an ObjectRef that is ready (its value is this group) once the group is reserved."""
        return rebuild_ref(ready_key(self.id))

    def wait(self, timeout_seconds: float = 30) -> bool:
        """Wait up to ``timeout_seconds`` for the group to be reserved; return whether it is."""
        return wait(backends.current(), self.id, float(timeout_seconds))

    @property
    def bundle_specs(self) -> list[dict[str, float]]:
        """The bundles of this group."""
        if self._bundles is None:
            entry = lookup(backends.current(), pg_id=self.id)
            self._bundles = [] if entry is None else entry["bundles"]
        return list(self._bundles)

    @property
    def bundle_count(self) -> int:
        return len(self.bundle_specs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlacementGroup) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("PlacementGroup", self.id))

    def __repr__(self) -> str:
        return f"PlacementGroup(id={self.id!r})"

    def __reduce__(self) -> Any:
        return PlacementGroup, (self.id, self._bundles)


def check_placement_group_index(placement_group: PlacementGroup, bundle_index: int) -> None:
    """Raise ValueError if ``bundle_index`` is not a bundle of ``placement_group`` (or -1)."""
    if placement_group.is_empty():
        if bundle_index != -1:
            raise ValueError("If placement group is not set, the value of bundle index must be -1.")
    elif bundle_index >= placement_group.bundle_count or bundle_index < -1:
        raise ValueError(
            f"placement group bundle index {bundle_index} is invalid. Valid placement group "
            f"indexes: 0-{placement_group.bundle_count}"
        )
