"""The embedded cluster that ``init()`` starts: a scheduler in this process, workers in others.

Why not ``distributed.LocalCluster``: it starts workers with multiprocessing's spawn, which
re-imports the user's script in every worker. Ray scripts call ``ray.init()`` at top level with
no ``if __name__ == "__main__"`` guard, so each worker would run the whole script again. Here
each worker is a fresh ``python -m raycompat._dask.worker_main`` process that never imports the
script. A supervisor thread restarts a worker process that dies (a crash, or ``cancel(force=True)``),
so the cluster keeps its CPU slots, as a Ray node keeps its worker pool.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from distributed import Scheduler
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.utils import LoopRunner, sync

from . import dashboard, dask_private
from .protocol import EMBEDDED_WORKER_ENV
from .queueing import queue_until_a_slot_opens

logger = logging.getLogger("raycompat")

LOCALHOST = "127.0.0.1"
STORE_NAME = "object-store"


def worker_command(
    scheduler_address: str,
    *,
    name: str,
    nthreads: int,
    resources: dict[str, float],
    memory_limit: int | str = 0,
    actor_id: str | None = None,
    incarnation: int = 0,
) -> list[str]:
    """Return the command line that starts one raycompat worker process."""
    cmd = [
        sys.executable,
        "-m",
        "raycompat._dask.worker_main",
        scheduler_address,
        "--name",
        name,
        "--nthreads",
        str(nthreads),
        "--resources",
        json.dumps(resources),
        "--memory-limit",
        str(memory_limit),
        "--parent-pid",
        str(os.getpid()),
    ]
    if actor_id is not None:
        cmd += ["--actor-id", actor_id, "--incarnation", str(incarnation)]
    return cmd


def worker_env(env_vars: dict[str, str] | None) -> dict[str, str]:
    """Return the environment for a worker process: ours, the user's env_vars, quiet Dask logs."""
    env = dict(os.environ)
    env.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    # Workers import what the driver imports: the script's folder and the current directory
    # come first on their path, as Ray's local workers see them.
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    paths = [p for p in (os.path.dirname(os.path.abspath(script)) if script else "", os.getcwd()) if p]
    env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    env[EMBEDDED_WORKER_ENV] = "1"
    env.update(env_vars or {})
    return env


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """Give each process ``timeout`` seconds to exit on its own (it was told to), then kill it."""
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port(avoid: int | None = None) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind((LOCALHOST, 0))
            port = int(sock.getsockname()[1])
        if port != avoid:
            return port


def _port_taken(exc: BaseException) -> bool:
    """Whether ``exc`` was caused, at any depth, by a port already in use."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.EADDRINUSE:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _QuietScheduler(logging.Filter):
    """Drop two scheduler reports that Ray has no counterpart for.

    "caused the cluster to lose": data lost with a worker. raycompat handles those cases itself
    (task results are recomputed; put objects live in the object store; an actor's results end
    with the actor), and Ray prints nothing for them.

    "cannot schedule new futures after (interpreter) shutdown": a script that ends with tasks
    still being submitted. Python stops the scheduler's helper threads before ``shutdown()``
    runs at exit, and the unfinished tasks are dropped, as Ray drops them; Dask logs one error
    per task.
    """

    QUIET = ("caused the cluster to lose", "cannot schedule new futures after")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(quiet in message for quiet in self.QUIET)


_QUIET_SCHEDULER = _QuietScheduler()


class _JoinWatcher(SchedulerPlugin):
    """Tracks which workers joined since their (re)start, and which are connected now."""

    name = "raycompat-join-watcher"

    def __init__(self, joined: set[str], present: set[str]) -> None:
        self.joined = joined  # the supervisor clears a name when it (re)starts that worker
        self.present = present
        self.names: dict[str, str] = {}  # address -> name

    def add_worker(self, scheduler: Scheduler, worker: str) -> None:
        self.names[worker] = str(scheduler.workers[worker].name)
        self.joined.add(self.names[worker])
        self.present.add(self.names[worker])

    def remove_worker(self, scheduler: Scheduler, worker: str, **kwargs: Any) -> None:
        name = self.names.pop(worker, None)
        if name is not None:
            self.present.discard(name)


class EmbeddedCluster:
    """A scheduler on a background event loop plus ``num_workers`` supervised worker processes."""

    def __init__(
        self,
        *,
        num_workers: int,
        resources: dict[str, float],
        first_worker_resources: dict[str, float] | None = None,
        env_vars: dict[str, str] | None = None,
        dashboard_port: int | None = None,
        include_dashboard: bool = True,
        quiet_workers: bool = False,
    ) -> None:
        logging.getLogger("distributed").setLevel(logging.WARNING)  # as LocalCluster's silence_logs
        logging.getLogger("distributed.scheduler").addFilter(_QUIET_SCHEDULER)
        self._loop_runner = LoopRunner(asynchronous=False)
        self._loop_runner.start()
        self.loop = self._loop_runner.loop
        # Workers start first, on a port chosen now: they import Dask (most of a second) while
        # the scheduler starts, and connect as soon as it listens.
        self.scheduler_address = f"tcp://{LOCALHOST}:{_free_port(avoid=dashboard_port)}"
        self._include_dashboard = include_dashboard
        self._env = worker_env(env_vars)
        self._quiet = quiet_workers
        self._resources = resources
        self._first_resources = first_worker_resources or resources
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._actor_procs: list[subprocess.Popen[bytes]] = []
        self._spare: tuple[str, subprocess.Popen[bytes]] | None = None
        self._standby: subprocess.Popen[bytes] | None = None
        self._spare_count = 0
        self._joined: set[str] = set()  # workers that reached the scheduler since their start
        self._present: set[str] = set()  # workers connected now
        self._quick_deaths: dict[str, int] = {}
        self.restarts = 0
        dashboard_address = f"{LOCALHOST}:{dashboard_port if dashboard_port is not None else 0}"
        for attempt in range(3):
            for i in range(num_workers):
                self._launch(f"worker-{i}")
            try:
                self.scheduler, self._load_dashboard = self._loop_runner.run_sync(
                    self._start_scheduler,
                    self.scheduler_address,
                    dashboard_address if include_dashboard else None,
                    _JoinWatcher(self._joined, self._present),
                )
                break
            except BaseException as exc:
                if attempt == 2 or not _port_taken(exc):
                    self._stop_processes()
                    raise
            # Another process took the port between our choice and the scheduler's start:
            # choose again, and start the workers again, pointed at the new port.
            self._kill_workers()
            self.scheduler_address = f"tcp://{LOCALHOST}:{_free_port(avoid=dashboard_port)}"
        self._supervisor = threading.Thread(
            target=self._supervise, name="raycompat-supervisor", daemon=True
        )
        self._supervisor.start()

    @staticmethod
    async def _start_scheduler(
        address: str, dashboard_address: str | None, watcher: SchedulerPlugin
    ) -> tuple[Scheduler, Callable[[], None] | None]:
        scheduler = Scheduler(
            host=LOCALHOST,
            port=int(address.rsplit(":", 1)[1]),
            dashboard=False,  # its pages are loaded by load_dashboard(), once the workers run
            dashboard_address=dashboard_address or ":0",
            validate=False,
            plugins=[watcher],
        )
        await scheduler
        queue_until_a_slot_opens(scheduler)
        return scheduler, dashboard.defer(scheduler) if dashboard_address is not None else None

    def fast_client_stream(self, client_id: str) -> None:
        """Shorten the batching delay from our scheduler to the driver's client."""

        async def shorten() -> None:
            dask_private.shorten_scheduler_batching(self.scheduler, client=client_id)

        sync(self.loop, shorten)

    def load_dashboard(self) -> None:
        """Load the dashboard's pages in the background: ``init()`` does not wait for Bokeh."""
        if self._load_dashboard is not None:
            self._load_dashboard()
            self._load_dashboard = None

    @property
    def dashboard_url(self) -> str | None:
        if not self._include_dashboard:
            return None
        return f"http://{LOCALHOST}:{self.scheduler.http_server.port}/status"

    def _start(self, cmd: list[str], stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        """Start one of our processes; its output goes to ours unless log_to_driver=False."""
        out = subprocess.DEVNULL if self._quiet else None
        return subprocess.Popen(cmd, env=self._env, stdout=out, stderr=out, stdin=stdin)

    def _launch(self, name: str, restart: bool = False) -> None:
        """Start worker ``name``: wake the standby process if there is one, else a new process.

        The first restart also starts a standby, so that later ones take milliseconds.
        """
        if name == STORE_NAME:
            self.start_object_store()
            return
        with self._lock:
            self._joined.discard(name)  # before it starts: a standby joins within milliseconds
        resources = self._first_resources if name == "worker-0" else self._resources
        proc = self._wake_standby(name, resources)
        if proc is None:
            cmd = worker_command(self.scheduler_address, name=name, nthreads=1, resources=resources)
            proc = self._start(cmd)
            if restart:
                self.start_standby()
        with self._lock:
            self._procs[name] = proc

    def start_object_store(self) -> None:
        """Start the process that holds large ``put()`` objects, as Ray's object store does.

        It runs no task, so a task that crashes its worker never takes put objects with it.
        """
        cmd = worker_command(self.scheduler_address, name=STORE_NAME, nthreads=1, resources={}) + ["--store"]
        proc = self._start(cmd)
        with self._lock:
            self._joined.discard(STORE_NAME)
            self._procs[STORE_NAME] = proc  # supervised like a worker: restarted if it dies

    def object_store_address(self, timeout: float = 30) -> str | None:
        """The store's address, starting it on first use and waiting while it starts."""
        with self._lock:
            started = STORE_NAME in self._procs
        if not started:
            self.start_object_store()

        async def find() -> str | None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                proc = self._procs.get(STORE_NAME)
                if proc is None or proc.poll() is not None:
                    return None
                for ws in self.scheduler.workers.values():
                    if ws.name == STORE_NAME:
                        return str(ws.address)
                await asyncio.sleep(0.02)
            return None

        return sync(self.loop, find)  # type: ignore[no-any-return]

    def put_addresses(self) -> list[str]:
        """Where a large ``put()`` goes: the object store, and the task worker holding least data."""
        store = self.object_store_address()
        if store is None:
            return []

        async def least_loaded() -> list[str]:
            running = sorted(self.scheduler.running, key=lambda ws: ws.nbytes)
            return [str(ws.address) for ws in running[:1]]

        return [store, *sync(self.loop, least_loaded)]

    def start_standby(self) -> None:
        """Start a worker process that imports everything and waits: it replaces a dead worker
        in milliseconds instead of the second a new Python process takes."""
        if self._closing.is_set():
            return
        cmd = worker_command(self.scheduler_address, name="standby", nthreads=1, resources={}) + ["--standby"]
        proc = self._start(cmd, stdin=subprocess.PIPE)
        with self._lock:
            self._standby = proc

    def _wake_standby(self, name: str, resources: dict[str, float]) -> subprocess.Popen[bytes] | None:
        with self._lock:
            proc, self._standby = self._standby, None
        if proc is None or proc.poll() is not None or proc.stdin is None:
            return None
        try:
            proc.stdin.write((json.dumps({"name": name, "resources": resources}) + "\n").encode())
            proc.stdin.close()
        except OSError:
            return None
        self.start_standby()
        return proc

    def _supervise(self) -> None:
        """Restart worker processes that exit while the cluster is open.

        A worker that dies before it joins the scheduler, three times in a row, is broken (a bad
        environment, say) rather than unlucky: it is left dead and the error says so once.
        """
        while not self._closing.wait(0.2):
            with self._lock:
                dead = [name for name, proc in self._procs.items() if proc.poll() is not None]
            for name in dead:
                if self._closing.is_set():
                    return
                # A task may kill its worker (os._exit, a crash in native code): that worker had
                # joined. One that dies before joining, again and again, has a broken setup.
                never_joined = name not in self._joined
                self._quick_deaths[name] = self._quick_deaths.get(name, 0) + 1 if never_joined else 0
                if self._quick_deaths[name] >= 3:
                    logger.error(
                        "raycompat worker %s keeps exiting right after it starts; not restarting "
                        "it. Run `python -m raycompat._dask.worker_main %s` to see why.",
                        name,
                        self.scheduler_address,
                    )
                    with self._lock:
                        del self._procs[name]
                    continue
                logger.warning("raycompat worker %s exited; starting a new one.", name)
                self.restarts += 1
                self._launch(name, restart=True)

    def spawn_actor_host(self, actor_id: str, env_vars: dict[str, str], report_exit: Any) -> None:
        """Give a new actor its process: a spare host started ahead of need, or a new one.

        A new Python process takes about a second to import Dask; a spare makes creating an
        actor take milliseconds, as Ray's prestarted workers do.
        """
        from . import actor_host

        env = {**self._env, **env_vars}
        proc = self._claim_spare(actor_id) if not env_vars else None
        if proc is None:
            proc = actor_host.launch(self.scheduler_address, actor_id, 0, env, self._quiet)
        actor_host.supervise(proc, self.scheduler_address, actor_id, 0, report_exit, env, self._quiet)
        with self._lock:
            self._actor_procs.append(proc)
        self._launch_spare()

    def _launch_spare(self) -> None:
        from . import actor_host

        if self._closing.is_set():
            return
        with self._lock:
            if self._spare is not None and self._spare[1].poll() is None:
                return  # one is up or starting (an actor with env_vars did not take it)
        self._spare_count += 1
        name = f"actor-spare-{self._spare_count}"
        proc = actor_host.launch(self.scheduler_address, actor_host.SPARE, 0, self._env, self._quiet, name=name)
        with self._lock:
            self._spare = (name, proc)
            self._actor_procs.append(proc)

    def _claim_spare(self, actor_id: str) -> subprocess.Popen[bytes] | None:
        """Hand the spare host to ``actor_id`` if it is up; None if there is none ready."""
        from . import actor_host

        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None or spare[1].poll() is not None:
            return None
        name, proc = spare

        async def assign() -> str | None:
            while proc.poll() is None:  # a spare still starting is nearer ready than a new one
                address = next((ws.address for ws in self.scheduler.workers.values() if ws.name == name), None)
                if address is not None:
                    return str(await self.scheduler.rpc(address).raycompat_actor_assign(actor_id=actor_id, incarnation=0))
                await asyncio.sleep(0.02)
            return None

        try:
            reply = sync(self.loop, assign, callback_timeout=20)
        except Exception:
            logger.warning("claiming the spare actor host failed", exc_info=True)
            reply = None
        if reply != "OK":
            proc.kill()
            return None
        return proc

    def _kill_workers(self) -> None:
        with self._lock:
            procs, self._procs = list(self._procs.values()), {}
        for proc in procs:
            proc.kill()
            proc.wait()

    def wait_until_whole(self, timeout: float = 60) -> None:
        """Wait until every worker we supervise has (re)joined the scheduler."""
        deadline = time.monotonic() + timeout
        while not set(self._procs) <= self._present:
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(set(self._procs) - self._present)} did not come back")
            time.sleep(0.05)

    def all_pids(self) -> list[int]:
        """The pids of every process this cluster started: workers, store, actors, standby."""
        with self._lock:
            procs = [*self._procs.values(), *self._actor_procs]
            if self._standby is not None:
                procs.append(self._standby)
        return [proc.pid for proc in procs if proc.poll() is None]

    def worker_pids(self) -> list[int]:
        """The pids of the task workers (not the object store)."""
        with self._lock:
            return [proc.pid for name, proc in self._procs.items() if name != STORE_NAME]

    def close(self) -> None:
        """Stop the scheduler, which tells the workers to exit; then make sure they did."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._supervisor.join(timeout=2)
        try:
            self._loop_runner.run_sync(self.scheduler.close, timeout=5)
        except Exception:  # closing is best effort; the processes are stopped below anyway
            logger.debug("scheduler close failed", exc_info=True)
        self._stop_processes()

    def _stop_processes(self) -> None:
        """Wait a little for every process we started to exit, then kill what is left."""
        self._closing.set()
        with self._lock:
            procs = [*self._procs.values(), *self._actor_procs]
            standby, self._standby = self._standby, None
        if standby is not None:
            standby.kill()
            standby.wait()
        stop_processes(procs, timeout=3)
        self._loop_runner.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedCluster {self.scheduler_address} workers={len(self._procs)}>"

