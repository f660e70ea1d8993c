"""The scheduler's table of placement groups; reserving them is the creating client's job
(``_dask/placement.py``).

An entry is a dict: ``id``, ``name``, ``bundles``, ``strategy``, ``state`` (``PENDING`` ->
``CREATED`` -> ``REMOVED``) and, once reserved, ``hosts`` (one per bundle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .extension import Changed, Extension


class PlacementTable(Extension):
    """Scheduler extension: every placement group of the cluster, by id.

    Routes:

    * ``raycompat_pg_create``: add a group; False if its name is taken by a live group.
    * ``raycompat_pg_get``: the entry of a group id, or None.
    * ``raycompat_pg_get_named``: the entry of the live group of a name, or None.
    * ``raycompat_pg_list``: every entry.
    * ``raycompat_pg_reserve``: a pending group got its hosts; False if it was removed meanwhile.
    * ``raycompat_pg_remove``: mark a group removed.
    * ``raycompat_pg_wait``: long-poll until a group is no longer pending; return its entry.
    """

    name = "raycompat-placement-groups"

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, dict[str, Any]] = {}
        self.changed = Changed()

    def routes(self) -> dict[str, Callable[..., Any]]:
        return {
            "raycompat_pg_create": self.create,
            "raycompat_pg_get": self.get,
            "raycompat_pg_get_named": self.get_named,
            "raycompat_pg_list": self.list_all,
            "raycompat_pg_reserve": self.reserve,
            "raycompat_pg_remove": self.remove,
            "raycompat_pg_wait": self.wait,
        }

    def create(self, entry: dict[str, Any]) -> bool:
        if entry.get("name") and self.get_named(entry["name"]) is not None:
            return False
        self.groups[entry["id"]] = entry
        self.changed.notify()
        return True

    def get(self, pg_id: str) -> dict[str, Any] | None:
        return self.groups.get(pg_id)

    def get_named(self, name: str) -> dict[str, Any] | None:
        return next((g for g in self.groups.values() if g["name"] == name and g["state"] != "REMOVED"), None)

    def list_all(self) -> list[dict[str, Any]]:
        return list(self.groups.values())

    def reserve(self, pg_id: str, hosts: list[str]) -> bool:
        entry = self.groups.get(pg_id)
        if entry is None or entry["state"] != "PENDING":
            return False
        entry["state"], entry["hosts"] = "CREATED", hosts
        self.changed.notify()
        return True

    def remove(self, pg_id: str) -> None:
        entry = self.groups.get(pg_id)
        if entry is not None:
            entry["state"] = "REMOVED"
            self.changed.notify()

    async def wait(self, pg_id: str, timeout: float) -> dict[str, Any] | None:
        """Return the entry once it is no longer PENDING, or after ``timeout`` seconds."""
        await self.changed.wait_until(lambda: self.groups.get(pg_id, {}).get("state") != "PENDING", timeout)
        return self.groups.get(pg_id)
