"""raycompat's scheduler extension: the actor registry, and the few things only a scheduler can do.

Above all it is the actor registry: it knows every actor, its name, state and address. It also
counts worker crashes per task (for ``max_retries``), registers a key's interest for a client
once the scheduler knows the key (``desire``), shortens the scheduler's stream delays (tuning),
and shows actor calls in the dashboard's task stream.

It lives on the scheduler because the scheduler is the one process every client and worker
reaches, and its event loop makes each operation atomic (two actors can never take one name).
Clients call its handlers with ``client.scheduler.raycompat_actor(action=..., ...)``.

States: ``pending`` (host process starting) -> ``alive`` -> ``restarting`` -> ``alive`` ...
-> ``dead``. Each start of the host is an incarnation, numbered from 0.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.diagnostics.task_stream import TaskStreamPlugin

from .. import dask_private
from ..protocol import CRASHES

HANDLER = "raycompat_actor"
PLUGIN_NAME = "raycompat-actor-registry"
CRASH_STIMULI = ("handle-worker-cleanup", "remove-worker", "worker-died")


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
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def public(self) -> dict[str, Any]:
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


async def _wait_until(entry: Entry, condition: Callable[[], bool], timeout: float) -> None:
    """Wait until ``condition()`` holds, re-checking whenever ``entry`` changes, or ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        try:
            await asyncio.wait_for(entry.changed.wait(), remaining)
        except asyncio.TimeoutError:
            return


class ActorRegistry(SchedulerPlugin):
    """Scheduler plugin holding the actor table."""

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.actors: dict[str, Entry] = {}
        self.names: dict[tuple[str, str], str] = {}  # (namespace, name) -> actor_id
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        scheduler.handlers[HANDLER] = self.handle
        if TaskStreamPlugin.name not in scheduler.plugins:  # where actor calls are recorded
            scheduler.add_plugin(TaskStreamPlugin(scheduler))
        for worker in scheduler.workers:
            self.add_worker(scheduler, worker)

    async def handle(self, comm: Any = None, action: str = "", **kwargs: Any) -> Any:
        return await getattr(self, f"op_{action}")(**kwargs)

    def _changed(self, entry: Entry) -> None:
        entry.changed.set()
        entry.changed = asyncio.Event()

    # -- operations ---------------------------------------------------------------------------

    async def op_create(
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
    ) -> dict[str, Any]:
        if name is not None:
            existing = self.names.get((namespace, name))
            if existing is not None and self.actors[existing].state != "dead":
                if get_if_exists:
                    self.actors[existing].shared = True
                    return {"status": "exists", "actor": self.actors[existing].public()}
                return {"status": "taken"}
        entry = Entry(actor_id, class_name, spec, job_id, name, namespace, detached, max_restarts, meta)
        self.actors[actor_id] = entry
        if name is not None:
            self.names[(namespace, name)] = actor_id
        return {"status": "created", "actor": entry.public()}

    async def op_spec(self, actor_id: str) -> dict[str, Any]:
        entry = self.actors[actor_id]
        return {"spec": entry.spec, "incarnation": entry.incarnation, "state": entry.state, "actor": entry.public()}

    async def op_started(self, actor_id: str, address: str, pid: int, error: str | None = None) -> None:
        """The host reports the constructor's outcome."""
        entry = self.actors.get(actor_id)
        if entry is None:
            return
        entry.pid = pid
        if error is not None:
            entry.state, entry.error, entry.no_restart = "dead", error, True
        elif entry.state != "dead":
            entry.state, entry.address = "alive", address
        self._changed(entry)

    async def op_stored(
        self, who_has: dict[str, list[str]], nbytes: dict[str, int], client: str, records: list[dict[str, Any]]
    ) -> None:
        """An actor host stored call results: make them Dask data, and show the calls in the
        dashboard's task stream under ``Class.method``."""
        self.scheduler.update_data(who_has=who_has, nbytes=nbytes, client=client)
        await self.op_records(worker=next(iter(who_has.values()))[0] if who_has else "", records=records)

    async def op_records(self, worker: str, records: list[dict[str, Any]]) -> None:
        """Show actor calls in the dashboard's task stream under ``Class.method``."""
        stream = self.scheduler.plugins.get("task-stream")
        if stream is None:
            return
        for record in records:
            stream.transition(
                record["key"],
                "processing",
                "memory",
                startstops=[{"action": "compute", "start": record["start"], "stop": record["stop"]}],
                worker=worker,
                thread=0,
                status="OK",
                nbytes=0,
                type=None,
                typename=None,
                metadata={},
            )

    async def op_desire(self, keys: list[str], client: str, timeout: float = 60) -> None:
        """Register ``client``'s interest in ``keys`` once the scheduler knows them.

        A ref can reach another process before the task that makes it reaches the scheduler
        (the driver's submission and its call to an actor travel on different connections).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(k not in self.scheduler.tasks for k in keys) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        known = [k for k in keys if k in self.scheduler.tasks]
        if known:
            self.scheduler.client_desires_keys(keys=known, client=client)

    async def op_wait(self, actor_id: str, incarnation: int = -1, timeout: float = 30) -> dict[str, Any] | None:
        """Return the actor once it is alive in an incarnation newer than ``incarnation``, or dead."""
        entry = self.actors.get(actor_id)
        if entry is None:
            return None
        await _wait_until(
            entry, lambda: entry.state == "dead" or (entry.state == "alive" and entry.incarnation > incarnation), timeout
        )
        return entry.public()

    async def op_settled(self, actor_id: str, incarnation: int, timeout: float = 10) -> dict[str, Any] | None:
        """Wait until the registry has noticed that ``incarnation`` is gone; return the entry."""
        entry = self.actors.get(actor_id)
        if entry is None:
            return None
        await _wait_until(entry, lambda: not (entry.state == "alive" and entry.incarnation == incarnation), timeout)
        return entry.public()

    async def op_get(self, actor_id: str | None = None, name: str | None = None, namespace: str | None = None) -> dict[str, Any] | None:
        if actor_id is None:
            actor_id = self.names.get((namespace or "", name or ""))
        entry = self.actors.get(actor_id) if actor_id else None
        if entry is None or entry.state == "dead":
            return None
        if name is not None:
            entry.shared = True
        return entry.public()

    async def op_list(self, namespace: str | None = None, all_namespaces: bool = False) -> list[dict[str, Any]]:
        return [
            {"name": e.name, "namespace": e.namespace}
            for e in self.actors.values()
            if e.name is not None and e.state != "dead" and (all_namespaces or e.namespace == namespace)
        ]

    async def op_kill(self, actor_id: str, no_restart: bool = True, reason: str = "") -> dict[str, Any] | None:
        """Mark the actor for death (or restart); the caller then stops the host process."""
        entry = self.actors.get(actor_id)
        if entry is None:
            return None
        if no_restart or entry.restarts >= entry.max_restarts != -1:
            entry.no_restart = True
            if entry.state != "dead":
                entry.state = "dead"
                entry.error = reason or "The actor is dead because it was killed by `ray.kill`."
                self._release_name(entry)
        else:
            entry.state = "restarting"
        self._changed(entry)
        return entry.public()

    async def op_release(self, actor_id: str) -> dict[str, Any] | None:
        """The creator's last handle is gone: the actor ends unless others may hold handles."""
        entry = self.actors.get(actor_id)
        if entry is None or entry.shared or entry.detached:
            return None
        return await self.op_kill(
            actor_id, no_restart=True, reason="The actor is dead because all references to the actor were removed."
        )

    async def op_host_exited(self, actor_id: str, incarnation: int) -> dict[str, Any]:
        """The host process ended; decide whether the spawner starts it again."""
        entry = self.actors.get(actor_id)
        if entry is None:
            return {"restart": False}
        if entry.incarnation != incarnation:
            return {"restart": False}
        can_restart = not entry.no_restart and (entry.max_restarts == -1 or entry.restarts < entry.max_restarts)
        if can_restart and entry.state != "dead":
            entry.restarts += 1
            entry.incarnation += 1
            entry.state = "restarting"
            self._changed(entry)
            return {"restart": True, "incarnation": entry.incarnation}
        if entry.state != "dead":
            entry.state = "dead"
            entry.error = entry.error or "The actor died unexpectedly: its process exited."
            self._release_name(entry)
        self._changed(entry)
        return {"restart": False}

    async def op_forget_job(self, job_id: str) -> list[dict[str, Any]]:
        """The driver of ``job_id`` is ending: its non-detached actors end with it."""
        ended = []
        for entry in self.actors.values():
            if entry.job_id == job_id and not entry.detached and entry.state != "dead":
                entry.state, entry.no_restart = "dead", True
                entry.error = "The actor is dead because its owner (the driver) has exited."
                self._release_name(entry)
                self._changed(entry)
                ended.append(entry.public())
        return ended

    def _release_name(self, entry: Entry) -> None:
        if entry.name is not None and self.names.get((entry.namespace, entry.name)) == entry.actor_id:
            del self.names[(entry.namespace, entry.name)]

    # -- scheduler hooks ----------------------------------------------------------------------

    def transition(self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str = "", **kwargs: Any) -> None:
        """Count, per task, the worker crashes it was running in.

        Dask counts them too, against one limit for every task (``allowed-failures``); Ray's
        ``max_retries`` is per task. The count travels to the next worker in the task's
        annotations, where the task wrapper raises WorkerCrashedError once it is too high.
        """
        if start == "processing" and finish == "released" and stimulus_id.startswith(CRASH_STIMULI):
            ts = self.scheduler.tasks.get(key)
            if ts is not None:
                ts.annotations = {**(ts.annotations or {}), CRASHES: ts.suspicious}

    def remove_client(self, scheduler: Any, client: str) -> None:
        """A driver went away (even killed): its non-detached actors end with it, as in Ray."""
        for entry in self.actors.values():
            if entry.job_id == client and not entry.detached and entry.state != "dead":
                address = entry.address
                entry.state, entry.no_restart = "dead", True
                entry.error = "The actor is dead because its owner (the driver) has exited."
                self._release_name(entry)
                self._changed(entry)
                if address is not None:
                    asyncio.ensure_future(self._stop_host(address, entry.error))

    async def _stop_host(self, address: str, reason: str) -> None:
        try:
            await self.scheduler.rpc(address).raycompat_actor_exit(reason=reason)
        except Exception:  # already gone
            pass

    def add_worker(self, scheduler: Any, worker: str) -> None:
        """Send to the worker with little batching delay (Dask's default is 5 ms), see tuning."""
        dask_private.shorten_scheduler_batching(scheduler, worker=worker)

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        """A host that vanishes without its spawner reporting (a lost machine) leaves its actor
        unreachable: callers will see ActorDiedError when their call fails."""
        for entry in self.actors.values():
            if entry.address == worker and entry.state == "alive":
                entry.state = "restarting" if not entry.no_restart and (entry.max_restarts == -1 or entry.restarts < entry.max_restarts) else "dead"
                entry.address = None
                self._changed(entry)
