"""The actor registry: every actor of the cluster, its name, state and address.

It lives on the scheduler because the scheduler is the one process every client and worker
reaches, and its event loop makes each route atomic (two actors can never take one name).

States: ``pending`` (host process starting) -> ``alive`` -> ``restarting`` -> ``alive`` ...
-> ``dead``. Each start of the host is an incarnation, numbered from 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .extension import Changed, Extension

KILLED = "The actor is dead because it was killed by `ray.kill`."
RELEASED = "The actor is dead because all references to the actor were removed."
OWNER_EXITED = "The actor is dead because its owner (the driver) has exited."
PROCESS_EXITED = "The actor died unexpectedly: its process exited."


@dataclass
class Entry:
    actor_id: str
    class_name: str
    spec: bytes  # the pickled creation spec: class, arguments, options
    job_id: str
    name: str | None
    namespace: str
    detached: bool
    max_restarts: int
    meta: dict[str, Any]  # what handles need: the method table, max_task_retries
    state: str = "pending"
    address: str | None = None
    incarnation: int = 0
    restarts: int = 0
    no_restart: bool = False
    error: str | None = None  # why it is dead
    shared: bool = False  # looked up by name: others may hold handles
    pid: int | None = None
    changed: Changed = field(default_factory=Changed)

    @property
    def can_restart(self) -> bool:
        return not self.no_restart and (self.max_restarts == -1 or self.restarts < self.max_restarts)

    def public(self) -> dict[str, Any]:
        """The entry as callers see it (handles, ``ray.get_actor``, the host)."""
        return {
            "actor_id": self.actor_id,
            "class_name": self.class_name,
            "name": self.name,
            "namespace": self.namespace,
            "state": self.state,
            "address": self.address,
            "incarnation": self.incarnation,
            "error": self.error,
            "pid": self.pid,
            "detached": self.detached,
            "max_restarts": self.max_restarts,
            "meta": self.meta,
        }


class ActorRegistry(Extension):
    """Scheduler extension holding the actor table.

    Routes (each returns the actor's public entry, a dict, unless said otherwise):

    * ``raycompat_actor_create``: register a new actor; None if its name is taken. With
      ``get_if_exists``, the live actor of that name, if any (its ``actor_id`` differs).
    * ``raycompat_actor_spec``: what a starting host needs: the pickled spec, and the entry.
    * ``raycompat_actor_started``: the host reports its constructor's outcome.
    * ``raycompat_actor_wait``: long-poll until alive in a newer incarnation, or dead.
    * ``raycompat_actor_settled``: long-poll until the registry has seen an incarnation go.
    * ``raycompat_actor_get``: the live actor of a name, or None.
    * ``raycompat_actor_list``: the live named actors, as ``{"name", "namespace"}``.
    * ``raycompat_actor_kill``: mark the actor dead (or restarting); the caller stops the host.
    * ``raycompat_actor_release``: the creator's last handle is gone.
    * ``raycompat_actor_host_exited``: the host process ended: ``{"restart": bool, "incarnation"}``.
    * ``raycompat_actor_forget_job``: a driver is leaving: the entries of the actors ending.
    """

    name = "raycompat-actor-registry"

    def __init__(self) -> None:
        super().__init__()
        self.actors: dict[str, Entry] = {}
        self.names: dict[tuple[str, str], str] = {}  # (namespace, name) -> actor_id

    def routes(self) -> dict[str, Callable[..., Any]]:
        return {
            "raycompat_actor_create": self.create,
            "raycompat_actor_spec": self.spec,
            "raycompat_actor_started": self.started,
            "raycompat_actor_wait": self.wait,
            "raycompat_actor_settled": self.settled,
            "raycompat_actor_get": self.get,
            "raycompat_actor_list": self.list_named,
            "raycompat_actor_kill": self.kill,
            "raycompat_actor_release": self.release,
            "raycompat_actor_host_exited": self.host_exited,
            "raycompat_actor_forget_job": self.forget_job,
        }

    # -- routes ---------------------------------------------------------------------------------

    def create(
        self,
        actor_id: str,
        class_name: str,
        spec: bytes,
        job_id: str,
        name: str | None,
        namespace: str,
        detached: bool,
        max_restarts: int,
        meta: dict[str, Any],
        get_if_exists: bool = False,
    ) -> dict[str, Any] | None:
        if name is not None:
            existing = self._named(namespace, name)
            if existing is not None:
                if not get_if_exists:
                    return None
                existing.shared = True
                return existing.public()
        entry = Entry(actor_id, class_name, spec, job_id, name, namespace, detached, max_restarts, meta)
        self.actors[actor_id] = entry
        if name is not None:
            self.names[(namespace, name)] = actor_id
        return entry.public()

    def spec(self, actor_id: str) -> dict[str, Any]:
        entry = self.actors[actor_id]
        return {"spec": entry.spec, "incarnation": entry.incarnation, "state": entry.state, "actor": entry.public()}

    def started(self, actor_id: str, address: str, pid: int, error: str | None = None) -> None:
        entry = self.actors.get(actor_id)
        if entry is None:
            return
        entry.pid = pid
        if error is not None:
            entry.no_restart = True
            self._end(entry, error)
        elif entry.state != "dead":
            entry.state, entry.address = "alive", address
        entry.changed.notify()

    async def wait(self, actor_id: str, incarnation: int = -1, timeout: float = 30) -> dict[str, Any] | None:
        """Return the actor once it is alive in an incarnation newer than ``incarnation``, or dead."""
        entry = self.actors.get(actor_id)
        if entry is None:
            return None
        await entry.changed.wait_until(
            lambda: entry.state == "dead" or (entry.state == "alive" and entry.incarnation > incarnation), timeout
        )
        return entry.public()

    async def settled(self, actor_id: str, incarnation: int, timeout: float = 10) -> dict[str, Any] | None:
        """Wait until the registry has noticed that ``incarnation`` is gone; return the entry."""
        entry = self.actors.get(actor_id)
        if entry is None:
            return None
        await entry.changed.wait_until(
            lambda: not (entry.state == "alive" and entry.incarnation == incarnation), timeout
        )
        return entry.public()

    def get(self, name: str, namespace: str) -> dict[str, Any] | None:
        entry = self._named(namespace, name)
        if entry is None:
            return None
        entry.shared = True  # whoever looked it up may hold a handle now
        return entry.public()

    def list_named(self, namespace: str | None = None, all_namespaces: bool = False) -> list[dict[str, Any]]:
        return [
            {"name": e.name, "namespace": e.namespace}
            for e in self.actors.values()
            if e.name is not None and e.state != "dead" and (all_namespaces or e.namespace == namespace)
        ]

    def kill(self, actor_id: str, no_restart: bool = True, reason: str | None = None) -> dict[str, Any] | None:
        """Mark the actor for death (or restart); the caller then stops the host process."""
        entry = self.actors.get(actor_id)
        if entry is None:
            return None
        if no_restart or not entry.can_restart:
            entry.no_restart = True
            self._end(entry, reason or KILLED)
        else:
            entry.state = "restarting"
        entry.changed.notify()
        return entry.public()

    def release(self, actor_id: str) -> dict[str, Any] | None:
        """The creator's last handle is gone: the actor ends unless others may hold handles."""
        entry = self.actors.get(actor_id)
        if entry is None or entry.shared or entry.detached:
            return None
        return self.kill(actor_id, no_restart=True, reason=RELEASED)

    def host_exited(self, actor_id: str, incarnation: int) -> dict[str, Any]:
        """The host process ended; decide whether its supervisor starts it again."""
        entry = self.actors.get(actor_id)
        if entry is None or entry.incarnation != incarnation:
            return {"restart": False}
        if entry.can_restart and entry.state != "dead":
            entry.restarts += 1
            entry.incarnation += 1
            entry.state = "restarting"
            entry.changed.notify()
            return {"restart": True, "incarnation": entry.incarnation}
        self._end(entry, entry.error or PROCESS_EXITED)
        entry.changed.notify()
        return {"restart": False}

    def forget_job(self, job_id: str) -> list[dict[str, Any]]:
        """The driver of ``job_id`` is ending: its non-detached actors end with it."""
        return [entry.public() for entry in self._end_job(job_id)]

    # -- scheduler hooks ----------------------------------------------------------------------

    def remove_client(self, scheduler: Any, client: str) -> None:
        """A driver went away (even killed): its non-detached actors end with it, as in Ray."""
        for entry in self._end_job(client):
            if entry.address is not None:
                asyncio.ensure_future(self._stop_host(entry.address, entry.error or ""))

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        """A host that vanishes without its supervisor reporting (a lost machine) leaves its
        actor unreachable: callers will see ActorDiedError when their call fails."""
        for entry in self.actors.values():
            if entry.address == worker and entry.state == "alive":
                entry.state = "restarting" if entry.can_restart else "dead"
                entry.address = None
                entry.changed.notify()

    # -- helpers ------------------------------------------------------------------------------

    def _named(self, namespace: str, name: str) -> Entry | None:
        """The live actor called ``name`` in ``namespace``."""
        actor_id = self.names.get((namespace, name))
        entry = self.actors.get(actor_id) if actor_id is not None else None
        return entry if entry is not None and entry.state != "dead" else None

    def _end(self, entry: Entry, error: str) -> None:
        """Mark the actor dead for ``error`` (unless it already is) and free its name."""
        if entry.state == "dead":
            return
        entry.state, entry.error = "dead", error
        if entry.name is not None and self.names.get((entry.namespace, entry.name)) == entry.actor_id:
            del self.names[(entry.namespace, entry.name)]

    def _end_job(self, job_id: str) -> list[Entry]:
        """End the non-detached live actors of ``job_id``; return them."""
        ended = [e for e in self.actors.values() if e.job_id == job_id and not e.detached and e.state != "dead"]
        for entry in ended:
            entry.no_restart = True
            self._end(entry, OWNER_EXITED)
            entry.changed.notify()
        return ended

    async def _stop_host(self, address: str, reason: str) -> None:
        try:
            await self.scheduler.rpc(address).raycompat_actor_exit(reason=reason)
        except Exception:  # already gone
            pass
