"""The backend of one session: a Dask client, the embedded cluster if we started it, the
session's state, and which backend is current in this process.

The current backend is found here, the way distributed finds its current client: the process
default that ``ray.init()`` sets and ``ray.shutdown()`` clears, then, inside a worker, a backend
on the worker's own client (distributed's ``get_client`` falls back to the worker's client the
same way). Code that runs while pickling or unpickling refs finds its session here without
calling up into the front end. There is no per-context override: as in Ray, a process has one
session at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import distributed
from distributed import Client

from . import dask_private, interrupts, task_context
from .protocol import EMBEDDED_WORKER_ENV, OUTPUT_TOPIC
from .scheduler import install

if TYPE_CHECKING:
    from .process.embedded import EmbeddedCluster


class Backend:
    """A connection to a Dask cluster, the cluster itself when we started it, and the state of
    the session that uses it (namespace, env_vars, actor channels)."""

    def __init__(
        self,
        client: Client,
        cluster: EmbeddedCluster | None,
        *,
        log_to_driver: bool,
        in_worker: bool = False,
        namespace: str = "default",
        env_vars: dict[str, str] | None = None,
        config: Any = None,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self.in_worker = in_worker
        self._job_id = client.id
        self._namespace = namespace
        self.env_vars = dict(env_vars or {})
        self.log_to_driver = log_to_driver
        self.cpu_cap: float | None = 1.0 if cluster is not None else None
        # The session's tables, kept by the modules above (they end with the session):
        self.lock = threading.Lock()
        self.channels: dict[str, Any] = {}  # actor id -> this process's actor_client.Channel
        self.held: set[Any] = set()  # Dask futures kept until they finish (actor spawns)
        self.installed: set[str] = set()  # names of the scheduler extensions this session installed
        self.reservations: dict[str, Any] = {}  # placement group id -> its placement._Reserver
        self.group_hosts: dict[str, list[str]] = {}  # reserved placement groups' hosts, as seen here
        self.runtime_envs: set[tuple[str, str]] = set()  # runtime_env paths shipped to the workers
        self._config = config  # the Dask settings applied for this session
        self._output_lock = threading.Lock()
        self._markers = threading.Condition()  # output markers back from the workers (drain_output)
        self._marked: dict[str, int] = {}
        dask_private.shorten_client_batching(client)
        if not in_worker:
            install.ensure_driver_extensions(self)
        if log_to_driver and not in_worker:
            client.subscribe_topic(OUTPUT_TOPIC, self._print_output)

    @property
    def job_id(self) -> str:
        """The driver's job: in a worker, that of the task running here."""
        return (self.in_worker and task_context.current().job_id) or self._job_id

    @property
    def namespace(self) -> str:
        """The namespace of named actors: in a worker, that of the task running here."""
        return task_context.current().namespace if self.in_worker else self._namespace

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    @property
    def dashboard_url(self) -> str | None:
        if self.cluster is not None:
            return self.cluster.dashboard_url
        link = self.client.dashboard_link
        return str(link) if link else None

    def _print_output(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        if msg.get("job") != self.job_id:
            return
        if "marker" in msg:
            with self._markers:
                self._marked[msg["marker"]] = self._marked.get(msg["marker"], 0) + 1
                self._markers.notify_all()
            return
        stream = sys.stderr if msg["stream"] == "stderr" else sys.stdout
        with self._output_lock:
            for line in msg["lines"]:
                stream.write(f"{msg['prefix']} {line}\n")
            stream.flush()

    def drain_output(self, timeout: float = 1.0) -> None:
        """Wait until every line the workers' tasks printed so far has been printed here.

        Each worker logs a marker event after the lines it logged, on the same ordered stream
        to the scheduler and on to us: once every marker is back, no earlier line is on its way.
        Markers that have not come back within ``timeout`` seconds are not waited for.
        """
        if not self.log_to_driver or self.in_worker or self.client.status != "running":
            return
        token = uuid.uuid4().hex
        try:
            ran = self.client.run(_mark_output, self.job_id, token, on_error="return")
        except Exception:  # the scheduler is going: there is nothing to wait for
            return
        workers = [w for w, outcome in ran.items() if not isinstance(outcome, BaseException)]
        deadline = time.monotonic() + timeout
        with self._markers:
            while self._marked.get(token, 0) < len(workers) and (left := deadline - time.monotonic()) > 0:
                self._markers.wait(left)
            self._marked.pop(token, None)

    def close(self) -> None:
        """Disconnect; stop the cluster only if we started it; restore the Dask settings and the
        Ctrl-C handler."""
        if self.in_worker:
            return
        try:
            if self.client.status == "running":
                self.client.close(timeout=5)
            else:  # the scheduler is gone: Dask would log its reconnect attempt being cut short
                with _silenced("distributed.client", "distributed.batched"):
                    self.client.close(timeout=5)
        finally:
            if self.cluster is not None:
                self.cluster.close()
            if self._config is not None:
                self._config.close()
            interrupts.uninstall()


def _mark_output(job: str, token: str, dask_worker: Any = None) -> None:
    """Runs in a worker: log a marker after the output lines this worker has logged."""
    dask_worker.log_event(OUTPUT_TOPIC, {"job": job, "marker": token})


@contextmanager
def _silenced(*loggers: str) -> Iterator[None]:
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


# -- the current backend -----------------------------------------------------------------------

_default: Backend | None = None


def set_default(backend: Backend | None) -> None:
    """Make ``backend`` this process's backend (``init``), or none (``shutdown``)."""
    global _default
    _default = backend


def current_or_none() -> Backend | None:
    """The backend in use here: the process's, or inside a worker the worker's."""
    return _default or worker_backend_or_none()


def current() -> Backend:
    """The backend in use here; raise if there is none."""
    backend = current_or_none()
    if backend is None:
        raise RuntimeError(
            "Ray has not been started yet. Call ray.init() first, or call a Ray API function "
            "(ray.put, .remote()), which starts it."
        )
    return backend


def worker_backend_or_none() -> Backend | None:
    """Inside a worker process: a backend on the worker's own client. Elsewhere: None."""
    worker = task_context.this_worker()
    if worker is None:
        return None
    backend: Backend | None = getattr(worker, "_raycompat_backend", None)
    if backend is None:
        if on_event_loop(worker):
            return None  # a client cannot be made from the loop it runs on
        backend = Backend(dask_private.worker_client(worker), None, log_to_driver=False, in_worker=True)
        if os.environ.get(EMBEDDED_WORKER_ENV):  # nested tasks get the driver's CPU cap
            backend.cpu_cap = 1.0
        worker._raycompat_backend = backend
    return backend


def on_event_loop(worker: Any) -> bool:
    try:
        return bool(worker.loop.asyncio_loop is asyncio.get_running_loop())
    except RuntimeError:
        return False


@contextmanager
def blocking() -> Iterator[None]:
    """Hand the task's thread slot back to Dask while a task blocks, so nesting never deadlocks;
    in the driver, hold Ctrl-C back until the wait can raise it safely."""
    if dask_private.running_task_key() is None:
        interrupts.hold()
        try:
            yield
        finally:
            interrupts.release()
        return
    distributed.secede()
    try:
        yield
    finally:
        distributed.rejoin()
