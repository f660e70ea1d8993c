"""The caller's side of actors: create them, send calls in order, kill them, look them up.

Calls from one process to one actor travel over one TCP connection (a ``Channel``), written in
the order they were made and read by the host in that order, so they start in submission
order by construction. Results come back as ordinary ObjectRefs: the host stores each result as
Dask data under a key this side chose, and small results also ride back in the reply.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import cloudpickle
from distributed.comm import connect

from .. import exceptions
from . import interrupts
from .backend import Backend
from .binding import new_key
from .packing import function_blob, pack_args
from .process import actor_spawn
from .protocol import CONNECT_OP, RELEASE, ActorCall, ActorReply, ActorSpec, CallOutcome
from .refs import ObjectRef

WAIT_SLICE = 30.0  # seconds per registry long-poll while an actor starts


# -- creating and killing ----------------------------------------------------------------------


@interrupts.held
def create_actor(
    backend: Backend,
    *,
    cls: type,
    class_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None,
    namespace: str,
    detached: bool,
    get_if_exists: bool,
    max_restarts: int,
    max_concurrency: int | None,
    env_vars: dict[str, str],
    resources: dict[str, float] | None,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Register the actor and start its host process; return the registry's entry at once."""
    actor_id = uuid.uuid4().hex
    args_blob, _, nested = pack_args(backend, f"{class_name}.__init__", args, kwargs, resolve_top=False)
    spec = ActorSpec(
        class_name=class_name,
        cls_blob=function_blob(cls)[1],
        args_blob=args_blob,
        job_id=backend.job_id,
        namespace=namespace,
        log_to_driver=backend.log_to_driver,
        max_concurrency=max_concurrency,
        env_vars=env_vars,
    )
    client = backend.client
    entry = client.sync(
        client.scheduler.raycompat_actor_create,
        actor_id=actor_id,
        class_name=class_name,
        spec=cloudpickle.dumps(spec),
        job_id=backend.job_id,
        name=name,
        namespace=namespace,
        detached=detached,
        max_restarts=max_restarts,
        get_if_exists=get_if_exists,
        meta=meta,
    )
    if entry is None:
        raise exceptions.ActorAlreadyExistsError(
            f"The name {name} (namespace={namespace}) is already taken. Please use a different "
            f"name or get the existing actor using ray.get_actor({name!r}, namespace={namespace!r})"
        )
    if entry["actor_id"] != actor_id:  # get_if_exists found a live actor of that name
        return dict(entry)
    _keep_until_started(backend, actor_id, nested)
    _start_host(backend, actor_id, class_name, env_vars, resources)
    return dict(entry)


def _start_host(
    backend: Backend, actor_id: str, class_name: str, env_vars: dict[str, str], resources: dict[str, float] | None
) -> None:
    """Start the actor's host process: by the embedded cluster, or else by a worker of the
    cluster (a Dask task that starts it as a child process, where ``resources`` are)."""
    if backend.cluster is not None:
        backend.cluster.spawn_actor_host(actor_id, env_vars, report_exit=_exit_reporter(backend, actor_id))
        return
    future = backend.client.submit(
        actor_spawn.spawn_in_worker,
        actor_id,
        env_vars,
        key=new_key(f"{class_name}.__spawn__"),
        pure=False,
        resources=resources,
    )
    backend.held.add(future)  # kept until the host process has started
    future.add_done_callback(lambda _f: backend.held.discard(future))


def _keep_until_started(backend: Backend, actor_id: str, refs: list[ObjectRef[Any]]) -> None:
    """Constructor arguments that are ObjectRefs must outlive the start of the actor."""
    if not refs:
        return

    def wait() -> None:
        try:
            backend.client.sync(backend.client.scheduler.raycompat_actor_wait, actor_id=actor_id, timeout=600)
        finally:
            refs.clear()

    threading.Thread(target=wait, name="actor-args", daemon=True).start()


def _exit_reporter(backend: Backend, actor_id: str) -> Any:
    def report(incarnation: int) -> dict[str, Any]:
        client = backend.client
        reply = client.sync(client.scheduler.raycompat_actor_host_exited, actor_id=actor_id, incarnation=incarnation)
        return dict(reply)

    return report


def kill_actor(backend: Backend, actor_id: str, no_restart: bool) -> None:
    """Stop the actor's process; with ``no_restart=False`` it may come back if it can restart."""
    client = backend.client
    entry = client.sync(client.scheduler.raycompat_actor_kill, actor_id=actor_id, no_restart=no_restart)
    if entry and entry["state"] == "dead":
        ch = backend.channels.get(actor_id)
        if ch is not None:
            ch.dead = entry  # later calls from here fail at once
    if entry and entry.get("address"):
        _stop_host(backend, entry["address"], entry.get("error") or "")


def _stop_host(backend: Backend, address: str, reason: str = "") -> None:
    try:
        backend.client.sync(backend.client.rpc(address).raycompat_actor_exit, reason=reason)
    except Exception:  # already gone
        pass


def release_actor(backend: Backend, actor_id: str, class_name: str) -> None:
    """The creator dropped its last handle: end the actor after the calls already sent.

    Safe from any thread (it runs when a handle is garbage collected): nothing blocks.
    """
    try:
        channel(backend, actor_id, class_name, 0).call(RELEASE, (), {}, 0)
    except Exception:  # the session is closing: the actor ends with it anyway
        pass


def forget_job(backend: Backend) -> None:
    """The driver is leaving: its non-detached actors end with it, as in Ray."""
    if backend.client.status != "running":
        return  # the scheduler is unreachable (the session treats that as lost): do not wait on it
    try:
        ended = backend.client.sync(backend.client.scheduler.raycompat_actor_forget_job, job_id=backend.job_id)
    except Exception:  # the scheduler is already gone
        return
    for entry in ended:
        if entry.get("address"):
            _stop_host(backend, entry["address"])


# -- looking up --------------------------------------------------------------------------------


def named_actor(backend: Backend, name: str, namespace: str) -> dict[str, Any] | None:
    """The registry's entry of the live actor ``name`` in ``namespace``, or None."""
    client = backend.client
    entry = client.sync(client.scheduler.raycompat_actor_get, name=name, namespace=namespace)
    return None if entry is None else dict(entry)


def named_actors(backend: Backend, all_namespaces: bool) -> list[dict[str, Any]]:
    """The live named actors of this namespace (or of all), as ``{"name", "namespace"}``."""
    client = backend.client
    return client.sync(  # type: ignore[no-any-return]
        client.scheduler.raycompat_actor_list, namespace=backend.namespace, all_namespaces=all_namespaces
    )


# -- calling -----------------------------------------------------------------------------------


class Channel:
    """This process's connection to one actor; calls are written in the order they are made."""

    def __init__(self, backend: Backend, actor_id: str, class_name: str, max_task_retries: int) -> None:
        self.backend = backend
        self.actor_id = actor_id
        self.class_name = class_name
        self.max_task_retries = max_task_retries
        self.loop = backend.client.loop.asyncio_loop
        self.queue: asyncio.Queue[_Sent] | None = None
        self.pending: dict[int, _Sent] = {}
        self.comm: Any = None
        self.incarnation = -1  # of the host we talk to
        self.failed_incarnation = -1  # newest incarnation whose connection broke
        self.ids = itertools.count()
        self.sender: asyncio.Task[None] | None = None
        self.dead: dict[str, Any] | None = None  # the registry entry, once we know it is dead

    @interrupts.held
    def call(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        num_returns: int,
        max_task_retries: int | None = None,
        retry_exceptions: Any = False,
    ) -> list[ObjectRef[Any]]:
        """Send one call; return its ObjectRefs at once."""
        name = f"{self.class_name}.{method}"
        args_blob, _, nested = pack_args(self.backend, name, args, kwargs, resolve_top=False)
        keys = [new_key(name) for _ in range(max(1, num_returns))]
        client = self.backend.client
        outcomes = [concurrent.futures.Future() for _ in keys]
        refs = []
        for key, outcome in zip(keys, outcomes):
            ref: ObjectRef[Any] = ObjectRef(key)  # its Dask future comes when needed
            ref._call = outcome
            refs.append(ref)
        retries = self.max_task_retries if max_task_retries is None else max_task_retries
        call = ActorCall(method, args_blob, keys, num_returns, client.id)
        if retry_exceptions:
            call.max_retries, call.retry_exceptions = retries, retry_exceptions
        self.loop.call_soon_threadsafe(self._enqueue, _Sent(call, outcomes, retries, nested))
        return refs

    def _enqueue(self, item: _Sent) -> None:
        if self.queue is None:
            self.queue = asyncio.Queue()
        self.queue.put_nowait(item)
        if self.sender is None or self.sender.done():
            self.sender = asyncio.ensure_future(self._send_loop())

    async def _send_loop(self) -> None:
        try:
            await self._send_forever()
        except Exception as exc:  # never leave callers hanging on a broken sender
            error = exceptions.RaySystemError(f"Sending calls to actor {self.class_name} failed: {exc!r}")
            for it in list(self.pending.values()):
                _fail(it, error)
            self.pending.clear()
            while self.queue is not None and not self.queue.empty():
                _fail(self.queue.get_nowait(), error)

    async def _send_forever(self) -> None:
        assert self.queue is not None
        while True:
            item = await self.queue.get()
            batch = [item]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                if self.dead is not None:
                    raise died_error(self.dead, self.actor_id, self.class_name)
                await self._ensure_connected()
            except exceptions.RayActorError as exc:
                for it in batch:
                    _fail(it, exc)
                continue
            msgs = []
            for it in batch:
                it.call.call, it.call.incarnation = next(self.ids), self.incarnation
                self.pending[it.call.call] = it
                msgs.append(vars(it.call))
            try:
                await self.comm.write(msgs)
            except Exception:
                await self._connection_lost()

    async def _ensure_connected(self) -> None:
        while self.comm is None:
            info = await self.backend.client.scheduler.raycompat_actor_wait(
                actor_id=self.actor_id, incarnation=self.failed_incarnation, timeout=WAIT_SLICE
            )
            if info is None or info["state"] == "dead":
                self.dead = info
                raise died_error(info, self.actor_id, self.class_name)
            if info["state"] != "alive" or info["incarnation"] <= self.failed_incarnation:
                continue  # still starting or restarting
            try:
                comm = await connect(info["address"])
                await comm.write({"op": CONNECT_OP, "incarnation": info["incarnation"], "reply": False})
            except Exception:
                self.failed_incarnation = info["incarnation"]
                continue
            self.comm, self.incarnation = comm, info["incarnation"]
            asyncio.ensure_future(self._read_loop(comm))

    async def _read_loop(self, comm: Any) -> None:
        try:
            while True:
                reply = ActorReply(**await comm.read())
                item = self.pending.pop(reply.call, None)
                if item is None:
                    continue
                if reply.stale:
                    self._resend([item])
                elif reply.error is not None:
                    _fail(item, reply.error)
                else:
                    assert reply.values is not None and reply.inline is not None
                    for outcome, value, inline in zip(item.outcomes, reply.values, reply.inline):
                        outcome.set_result(CallOutcome(bool(inline), value))
                    item.keepalive = None
        except Exception:
            if comm is self.comm:
                await self._connection_lost()

    async def _connection_lost(self) -> None:
        """The host died: retry what may be retried, fail the rest as Ray does."""
        if self.comm is not None:
            self.comm.abort()
        self.comm = None
        lost_incarnation = self.incarnation
        self.failed_incarnation = max(self.failed_incarnation, lost_incarnation)
        lost, self.pending = list(self.pending.values()), {}
        if not lost:
            return
        try:
            info = await self.backend.client.scheduler.raycompat_actor_settled(
                actor_id=self.actor_id, incarnation=lost_incarnation
            )
        except Exception:  # the session is ending (ray.shutdown()): no one left to ask
            error = exceptions.RaySystemError(
                f"The session ended before this call to actor {self.class_name} finished."
            )
            for it in lost:
                _fail(it, error)
            return
        dead = info is None or info["state"] == "dead"
        retry = []
        for it in lost:
            if dead:
                _fail(it, died_error(info, self.actor_id, self.class_name))
            elif it.retries != 0:
                retry.append(it)
            else:
                _fail(it, exceptions.ActorUnavailableError(
                    f"The actor {self.class_name} ({self.actor_id[:12]}) is restarting after its "
                    "process died; this call may or may not have run. Set max_task_retries to "
                    "retry such calls."
                ))
        self._resend(retry)

    def _resend(self, items: list[_Sent]) -> None:
        """Put calls back at the front of the queue, in their order."""
        assert self.queue is not None
        rest = []
        while not self.queue.empty():
            rest.append(self.queue.get_nowait())
        for it in items:
            if it.retries > 0:
                it.retries -= 1
        for it in [*items, *rest]:
            self.queue.put_nowait(it)
        if self.sender is None or self.sender.done():
            self.sender = asyncio.ensure_future(self._send_loop())


@dataclass
class _Sent:
    """A call on its way: what the caller waits on, and what it keeps until the reply."""

    call: ActorCall
    outcomes: list[concurrent.futures.Future[CallOutcome]]  # one per result ref
    retries: int  # times it may be sent again if the host dies (-1: no limit)
    keepalive: list[ObjectRef[Any]] | None  # refs in its arguments, held until it ran


def _fail(item: _Sent, exc: BaseException) -> None:
    for outcome in item.outcomes:
        if not outcome.done():
            outcome.set_exception(exc)
    item.keepalive = None


def died_error(info: dict[str, Any] | None, actor_id: str, class_name: str) -> exceptions.ActorDiedError:
    reason = (info or {}).get("error") or "The actor is dead."
    if reason.startswith("The actor died because of an error raised in its creation task"):
        return exceptions.ActorDiedError(reason)
    lines = [
        "The actor died unexpectedly before finishing this task.",
        f"\tclass_name: {class_name}",
        f"\tactor_id: {actor_id}",
    ]
    if info and info.get("pid"):
        lines.append(f"\tpid: {info['pid']}")
    if info and info.get("namespace"):
        lines.append(f"\tnamespace: {info['namespace']}")
    lines.append(reason)
    return exceptions.ActorDiedError("\n".join(lines))


def channel(backend: Backend, actor_id: str, class_name: str, max_task_retries: int) -> Channel:
    """The one channel of this session to ``actor_id``."""
    with backend.lock:
        ch: Channel | None = backend.channels.get(actor_id)
        if ch is None:
            ch = backend.channels[actor_id] = Channel(backend, actor_id, class_name, max_task_retries)
        return ch
