"""Ray's view of a Dask cluster: nodes, their resources, and what the running task holds.

A Ray node is a Dask worker *host*: the worker processes on one IP address form one node, and
its resources are the sum of theirs. A worker that advertises no ``CPU`` resource (a plain
``dask worker``) counts its threads as CPUs, which is what its thread slots enforce. Resources
in use are those held by resource-restricted tasks, plus one CPU for each plain task running.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from distributed.comm import get_address_host
from distributed.utils import get_ip

from . import dask_private, task_context

logger = logging.getLogger("raycompat")

# Seconds a task may wait for a resource that no worker has before we say so.
PENDING_WARNING_SECONDS = float(os.environ.get("RAYCOMPAT_PENDING_WARNING_SECONDS", "5"))


@dataclass
class WorkerInfo:
    address: str
    host: str
    name: str
    nthreads: int
    resources: dict[str, float]  # as Ray counts them: CPU always present
    used: dict[str, float]
    memory_limit: int = 0
    pid: int | None = None


@dataclass
class NodeInfo:
    host: str
    workers: list[WorkerInfo] = field(default_factory=list)
    is_head: bool = False

    @property
    def node_id(self) -> str:
        return node_id(self.host)

    def total(self) -> dict[str, float]:
        return _sum(w.resources for w in self.workers)

    def used(self) -> dict[str, float]:
        return _sum(w.used for w in self.workers)


def node_id(host: str) -> str:
    """A stable 56-hex-digit id for the node at ``host``, the length of Ray's NodeID."""
    return hashlib.sha224(f"raycompat-node:{host}".encode()).hexdigest()


def _sum(dicts: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


def _host_of(address: str) -> str:
    return str(get_address_host(address))


# -- the cluster, from the scheduler ------------------------------------------------------------


def _scheduler_snapshot(dask_scheduler: Any = None) -> dict[str, Any]:
    """Runs on the scheduler: each worker's resources and what its tasks hold right now."""
    workers = {}
    for address, ws in dask_scheduler.workers.items():
        plain = sum(1 for ts in ws.processing if not ts.resource_restrictions)
        workers[address] = {
            "host": ws.host,
            "name": str(ws.name),
            "nthreads": ws.nthreads,
            "resources": dict(ws.resources),
            "used": dict(ws.used_resources),
            "plain": min(plain, ws.nthreads),
            "memory_limit": ws.memory_limit,
            "pid": ws.pid,
        }
    return {"address": dask_scheduler.address, "workers": workers}


def _worker_usage(dask_worker: Any = None) -> dict[str, Any]:
    """Runs on each worker: resources its running tasks hold, and its plain tasks running."""
    state = dask_worker.state
    held = {k: float(v) - float(state.available_resources.get(k, 0.0)) for k, v in state.total_resources.items()}
    plain = sum(1 for ts in state.executing if not ts.resource_restrictions and ts not in state.long_running)
    return {"used": {k: v for k, v in held.items() if v > 1e-9}, "plain": min(plain, state.nthreads)}


# Worker names of raycompat's own service processes (see actor_host, object_store).
SERVICE_PREFIXES = ("actor-", "object-store")


def workers(client: Any, usage: bool = False) -> list[WorkerInfo]:
    """Every worker of the cluster, with resources as Ray counts them (and in use if ``usage``)."""
    try:
        snapshot = client.run_on_scheduler(_scheduler_snapshot)
        raw = snapshot["workers"]
    except Exception:  # a scheduler that cannot import raycompat: totals only, nothing in use
        info = client.scheduler_info(n_workers=-1)
        raw = {
            address: {
                "host": w.get("host") or _host_of(address),
                "name": str(w.get("name", address)),
                "nthreads": w.get("nthreads", 1),
                "resources": dict(w.get("resources") or {}),
                "used": {},
                "plain": int((w.get("metrics") or {}).get("task_counts", {}).get("executing", 0)),
                "memory_limit": w.get("memory_limit") or 0,
                "pid": w.get("pid"),
            }
            for address, w in info.get("workers", {}).items()
        }
    if usage:  # ask the workers: the scheduler also counts tasks queued behind running ones
        try:
            live = client.run(_worker_usage, workers=list(raw), on_error="return")
        except Exception:
            live = {}
        for address, w in raw.items():
            got = live.get(address)
            if isinstance(got, dict):
                w["used"], w["plain"] = got["used"], got["plain"]
    out = []
    for address, w in sorted(raw.items()):
        if str(w["name"]).startswith(SERVICE_PREFIXES):
            continue  # an actor's process or the object store: not a CPU slot
        resources = {k: float(v) for k, v in w["resources"].items()}
        resources.setdefault("CPU", float(w["nthreads"]))
        if "memory" not in resources and w["memory_limit"]:
            resources["memory"] = float(w["memory_limit"])
        used = {k: float(v) for k, v in w["used"].items() if v}
        if w["plain"]:
            used["CPU"] = min(resources["CPU"], used.get("CPU", 0.0) + w["plain"])
        out.append(
            WorkerInfo(
                address=address,
                host=w["host"],
                name=w["name"],
                nthreads=int(w["nthreads"]),
                resources=resources,
                used=used,
                memory_limit=int(w["memory_limit"] or 0),
                pid=w.get("pid"),
            )
        )
    return out


def nodes(client: Any, usage: bool = False) -> list[NodeInfo]:
    """The cluster's nodes: its workers grouped by host; the scheduler's host is the head."""
    scheduler_host = _host_of(str(client.scheduler.address))
    by_host: dict[str, NodeInfo] = {}
    for worker in workers(client, usage):
        node = by_host.setdefault(worker.host, NodeInfo(host=worker.host))
        node.workers.append(worker)
    for host, node in by_host.items():
        node.is_head = host == scheduler_host
    return sorted(by_host.values(), key=lambda n: (not n.is_head, n.host))


def local_ip(client: Any) -> str:
    """The IP address by which this process reaches the scheduler: the driver's node."""
    host = _host_of(str(client.scheduler.address))
    if host.startswith("127.") or host == "localhost":
        return host if host != "localhost" else "127.0.0.1"
    try:
        return str(get_ip(host))
    except Exception:
        return "127.0.0.1"


# -- the running task ------------------------------------------------------------------------


def current_worker() -> Any:
    """The Dask worker of this process, or None in a driver."""
    return task_context.this_worker()


def task_resources(key: str | None) -> dict[str, float] | None:
    """The resources Dask reserved for the task ``key`` in this worker; None if it has none."""
    worker = current_worker()
    if worker is None or key is None:
        return None
    ts = dask_private.worker_task(worker, key)
    if ts is None or not ts.resource_restrictions:
        return None
    return {k: float(v) for k, v in ts.resource_restrictions.items() if v}


def worker_ip() -> str | None:
    worker = current_worker()
    return None if worker is None else _host_of(worker.address)


_gpu_lock = threading.Lock()
_gpu_claims: dict[str, tuple[list[int], float]] = {}


def gpu_ids(key: str | None) -> list[int]:
    """The GPU ids lent to task ``key``: whole GPUs to itself, fractions shared, lowest first.

    The ids come from ``CUDA_VISIBLE_DEVICES`` of the worker when it is set, else 0..n-1 for
    the worker's ``GPU`` resource. A claim ends when its task is no longer executing.
    """
    worker = current_worker()
    wanted = (task_resources(key) or {}).get("GPU", 0.0)
    if worker is None or key is None or not wanted:
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        ids = [int(x) for x in visible.split(",") if x.strip().isdigit()]
    else:
        ids = list(range(math.ceil(float(worker.state.total_resources.get("GPU", 0)))))
    with _gpu_lock:
        executing = {ts.key for ts in worker.state.executing} | {key}
        for old in [k for k in _gpu_claims if k not in executing]:
            del _gpu_claims[old]
        if key in _gpu_claims:
            return list(_gpu_claims[key][0])
        load = {i: 0.0 for i in ids}
        for claimed, share in _gpu_claims.values():
            for i in claimed:
                load[i] = load.get(i, 0.0) + share
        if wanted >= 1:
            free = [i for i in ids if load[i] == 0.0] or ids
            chosen = free[: math.ceil(wanted)]
            share = 1.0
        else:
            fitting = [i for i in ids if load[i] + wanted <= 1.0 + 1e-9] or ids
            chosen = sorted(fitting, key=lambda i: (-load[i], i))[:1]  # pack fractions
            share = wanted
        _gpu_claims[key] = (chosen, share)
        return list(chosen)


# -- tasks that no worker can run ---------------------------------------------------------------


class _PendingWatch:
    """One thread that warns about tasks waiting for resources no worker has."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[float, Any, Any, str, dict[str, float]]] = []
        self._warned: set[tuple[str, tuple[tuple[str, float], ...]]] = set()
        self._thread: threading.Thread | None = None

    def add(self, client: Any, future: Any, name: str, resources: dict[str, float]) -> None:
        with self._lock:
            self._items.append(
                (time.monotonic() + PENDING_WARNING_SECONDS, weakref.ref(client), weakref.ref(future), name, resources)
            )
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="raycompat-pending-watch", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self._lock:
                due = [item for item in self._items if item[0] <= now]
                self._items = [item for item in self._items if item[0] > now]
                idle = not self._items and not due
            for _, client_ref, future_ref, name, resources in due:
                client, future = client_ref(), future_ref()
                if client is None or future is None or future.done() or client.status != "running":
                    continue
                self._check(client, name, resources)
            if idle:
                with self._lock:
                    if not self._items:
                        self._thread = None
                        return

    def _check(self, client: Any, name: str, resources: dict[str, float]) -> None:
        signature = (name, tuple(sorted(resources.items())))
        if signature in self._warned:
            return
        try:
            message = unschedulable_message(workers(client), name, resources, str(client.scheduler.address))
        except Exception:  # the cluster is closing: nothing useful to say
            return
        if message:
            self._warned.add(signature)
            logger.warning(message)


_watch = _PendingWatch()


def watch_pending(client: Any, future: Any, name: str, resources: dict[str, float] | None) -> None:
    """Warn after a few seconds if ``future`` still waits for resources that no worker has."""
    if resources:
        _watch.add(client, future, name, dict(resources))


def unschedulable_message(all_workers: list[WorkerInfo], name: str, resources: dict[str, float], address: str) -> str | None:
    """Why no worker can ever run a task that asks for ``resources``; None if one can."""
    for worker in all_workers:
        have = dict(worker.resources)
        if all(have.get(k, 0.0) >= v for k, v in resources.items()):
            return None
    lacking = {}
    for k, v in resources.items():
        most = max((w.resources.get(k, 0.0) for w in all_workers), default=0.0)
        if most < v:
            lacking[k] = most
    if not lacking:
        together = ", ".join(f"{k}={v:g}" for k, v in resources.items())
        return (
            f"Task {name!r} is pending: it asks for {resources} and no single worker has all of "
            f"{together}. Start a worker that has them together: "
            f"`dask worker {address} --resources \"{together.replace(', ', ',')}\"`."
        )
    parts = []
    for k, most in lacking.items():
        have = "no worker has it" if most == 0 else f"the most any worker has is {most:g}"
        parts.append(f"{k}={resources[k]:g} ({have})")
    flag = ",".join(f"{k}={resources[k]:g}" for k in lacking)
    start = " ".join(_start_flag(k, resources[k]) for k in lacking)
    return (
        f"Task {name!r} is pending: it needs {', '.join(parts)}, so it cannot run on this cluster. "
        f"Add a worker that has it: `raycompat start --address {_bare(address)} {start}` or "
        f"`dask worker {address} --resources \"{flag}\"`; or ask for less in @ray.remote(...)."
    )


def _start_flag(resource: str, amount: float) -> str:
    if resource == "CPU":
        return f"--num-cpus {math.ceil(amount)}"
    if resource == "GPU":
        return f"--num-gpus {math.ceil(amount)}"
    if resource == "memory":
        return f"--memory {int(amount)}"
    return f"--resources '{{\"{resource}\": {amount:g}}}'"


def _bare(address: str) -> str:
    return address.split("://", 1)[-1]
