"""The embedded cluster that ``init()`` starts: a scheduler in this process, workers in others.

Why not ``distributed.LocalCluster``: it starts workers with multiprocessing's spawn, which
re-imports the user's script in every worker. Ray scripts call ``ray.init()`` at top level with
no ``if __name__ == "__main__"`` guard, so each worker would run the whole script again. Here
each worker is a fresh ``python -m raycompat._dask.worker.main`` process that never imports the
script. The cluster's supervisor restarts a worker process that dies (a crash, or
``cancel(force=True)``), so the cluster keeps its CPU slots, as a Ray node keeps its worker pool;
it also restarts actor hosts while their actor may restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import threading
import time
from typing import Any, Callable

from distributed import Scheduler
from distributed.diagnostics.plugin import SchedulerPlugin
from distributed.utils import LoopRunner, sync

from .. import dask_private, shared_memory
from ..protocol import SPARE
from ..scheduler import dashboard
from ..scheduler.queueing import queue_until_a_slot_opens
from . import actor_spawn, commands
from .commands import LOCALHOST, worker_command, worker_env
from .supervisor import Process, Supervisor, stop

logger = logging.getLogger("raycompat")

STORE_NAME = "object-store"
QUICK_DEATHS = 3  # a worker that dies this many times in a row before joining is left dead
STOP_TIMEOUT = 3.0  # seconds our processes get to exit after the scheduler closed


class _QuietScheduler(logging.Filter):
    """Drop two scheduler reports that Ray has no counterpart for.

    "caused the cluster to lose": data lost with a worker. raycompat handles those cases itself
    (task results are recomputed; put objects live in the object store; an actor's results end
    with the actor), and Ray prints nothing for them.

    "cannot schedule new futures after (interpreter) shutdown": a script that ends with tasks
    still being submitted. Python stops the scheduler's helper threads before ``shutdown()``
    runs at exit, and the unfinished tasks are dropped, as Ray drops them; Dask logs one error
    per task, or, when the driver's connection has closed first, a CRITICAL "Closed comm"
    report that carries that error.
    """

    QUIET = ("caused the cluster to lose", "cannot schedule new futures after")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Closed comm") and record.args:  # the error is in the arguments
            message = " ".join(map(repr, record.args if isinstance(record.args, tuple) else (record.args,)))
        return not any(quiet in message for quiet in self.QUIET)


_QUIET_SCHEDULER = _QuietScheduler()


class _JoinWatcher(SchedulerPlugin):
    """Tracks which workers joined since their (re)start, and which are connected now."""

    name = "raycompat-join-watcher"

    def __init__(self, joined: set[str], present: set[str]) -> None:
        self.joined = joined  # the cluster clears a name when it (re)starts that worker
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


def _is_actor_host(name: str) -> bool:
    return name.startswith("actor-")


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
        self._include_dashboard = include_dashboard
        self._env = worker_env(env_vars)
        self._quiet = quiet_workers
        self._resources = resources
        self._first_resources = first_worker_resources or resources
        self._supervisor = Supervisor()  # watches the workers, the store and the actor hosts
        self._lock = threading.Lock()
        self._store_lock = threading.Lock()  # one store, even when two threads put at once
        self._spare: tuple[str, Process] | None = None
        self._standby: Process | None = None
        self._spare_count = 0
        self._joined: set[str] = set()  # workers that reached the scheduler since their start
        self._present: set[str] = set()  # workers connected now
        self._quick_deaths: dict[str, int] = {}
        self.shared_prefix = shared_memory.new_prefix()  # names this cluster's shared-memory files
        self._env[shared_memory.PREFIX_ENV] = self.shared_prefix  # for the puts of tasks
        self._start_scheduler_and_workers(num_workers, dashboard_port)

    def _start_scheduler_and_workers(self, num_workers: int, dashboard_port: int | None) -> None:
        """Start the workers, then the scheduler they connect to, and supervise the workers.

        Workers start first, on a port chosen now: they import Dask (most of a second) while the
        scheduler starts, and connect as soon as it listens. If another process takes the port
        in between, choose again and start the workers again, pointed at the new port.
        """
        dashboard_address = f"{LOCALHOST}:{dashboard_port if dashboard_port is not None else 0}"
        for attempt in range(3):
            self.scheduler_address = f"tcp://{LOCALHOST}:{commands.free_port(avoid=dashboard_port)}"
            workers = {f"worker-{i}": self._start_worker(f"worker-{i}") for i in range(num_workers)}
            try:
                self.scheduler, self._load_dashboard = self._loop_runner.run_sync(
                    self._start_scheduler,
                    self.scheduler_address,
                    dashboard_address if self._include_dashboard else None,
                    _JoinWatcher(self._joined, self._present),
                )
                break
            except BaseException as exc:
                stop(workers.values(), timeout=0)  # they never joined: nothing to wait for
                if attempt == 2 or not commands.port_taken(exc):
                    self._supervisor.close()
                    self._loop_runner.stop()
                    raise
        for name, proc in workers.items():
            self._supervisor.watch(name, proc, self._restart)

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

    # -- workers and the object store -------------------------------------------------------------

    def _start(self, cmd: list[str], stdin: int = subprocess.DEVNULL) -> Process:
        """Start one of our processes; its output goes to ours unless log_to_driver=False."""
        out = subprocess.DEVNULL if self._quiet else None
        return subprocess.Popen(cmd, env=self._env, stdout=out, stderr=out, stdin=stdin)

    def _start_worker(self, name: str, restart: bool = False) -> Process:
        """Start worker ``name``: wake the standby process if there is one, else a new process.

        The first restart also starts a standby, so that later ones take milliseconds.
        """
        with self._lock:
            self._joined.discard(name)  # before it starts: a standby joins within milliseconds
        resources = self._first_resources if name == "worker-0" else self._resources
        proc = self._wake_standby(name, resources)
        if proc is None:
            proc = self._start(worker_command(self.scheduler_address, name=name, nthreads=1, resources=resources))
            if restart:
                self._start_standby()
        return proc

    def _start_store(self) -> Process:
        """Start the process that holds large ``put()`` objects, as Ray's object store does.

        It runs no task, so a task that crashes its worker never takes put objects with it.
        """
        with self._lock:
            self._joined.discard(STORE_NAME)
        cmd = worker_command(self.scheduler_address, name=STORE_NAME, nthreads=1, resources={})
        return self._start([*cmd, "--store"])

    def _restart(self, name: str, proc: Process) -> Process | None:
        """The supervisor's policy for a worker or the store that exited: start a new one.

        A task may kill its worker (os._exit, a crash in native code): that worker had joined.
        One that dies before it joins the scheduler, three times in a row, is broken (a bad
        environment, say) rather than unlucky: it is left dead and the error says so once.
        """
        never_joined = name not in self._joined
        self._quick_deaths[name] = self._quick_deaths.get(name, 0) + 1 if never_joined else 0
        if self._quick_deaths[name] >= QUICK_DEATHS:
            logger.error(
                "raycompat worker %s keeps exiting right after it starts; not restarting "
                "it. Run `python -m raycompat._dask.worker.main %s` to see why.",
                name,
                self.scheduler_address,
            )
            return None
        logger.warning("raycompat worker %s exited; starting a new one.", name)
        return self._start_store() if name == STORE_NAME else self._start_worker(name, restart=True)

    def object_store_address(self, timeout: float = 30) -> str | None:
        """The store's address, starting it on first use and waiting while it starts."""
        with self._store_lock:
            if STORE_NAME not in self._supervisor.procs():
                self._supervisor.watch(STORE_NAME, self._start_store(), self._restart)

        async def find() -> str | None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                proc = self._supervisor.procs().get(STORE_NAME)
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

    def _start_standby(self) -> None:
        """Start a worker process that imports everything and waits: it replaces a dead worker
        in milliseconds instead of the second a new Python process takes."""
        if self._supervisor.closing:
            return
        cmd = worker_command(self.scheduler_address, name="standby", nthreads=1, resources={})
        proc = self._start([*cmd, "--standby"], stdin=subprocess.PIPE)
        with self._lock:
            self._standby = proc

    def _wake_standby(self, name: str, resources: dict[str, float]) -> Process | None:
        with self._lock:
            proc, self._standby = self._standby, None
        if proc is None or proc.poll() is not None or proc.stdin is None:
            return None
        try:
            proc.stdin.write((json.dumps({"name": name, "resources": resources}) + "\n").encode())
            proc.stdin.close()
        except OSError:
            return None
        self._start_standby()
        return proc

    # -- actor hosts ------------------------------------------------------------------------------

    def spawn_actor_host(self, actor_id: str, env_vars: dict[str, str], report_exit: actor_spawn.ReportExit) -> None:
        """Give a new actor its process: a spare host started ahead of need, or a new one.

        A new Python process takes about a second to import Dask; a spare makes creating an
        actor take milliseconds, as Ray's prestarted workers do.
        """
        env = {**self._env, **env_vars}
        spare = self._claim_spare(actor_id) if not env_vars else None
        actor_spawn.spawn(self._supervisor, self.scheduler_address, actor_id, report_exit, env, self._quiet, proc=spare)
        self._launch_spare()

    def _launch_spare(self) -> None:
        if self._supervisor.closing:
            return
        with self._lock:
            if self._spare is not None and self._spare[1].poll() is None:
                return  # one is up or starting (an actor with env_vars did not take it)
            self._spare_count += 1
            name = f"actor-spare-{self._spare_count}"
        proc = actor_spawn.launch(self.scheduler_address, SPARE, 0, self._env, self._quiet, name=name)
        with self._lock:
            self._spare = (name, proc)

    def _claim_spare(self, actor_id: str) -> Process | None:
        """Hand the spare host to ``actor_id`` if it is up; None if there is none ready."""
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
            stop([proc], timeout=0)
            return None
        return proc

    # -- state and stopping -----------------------------------------------------------------------

    def wait_until_whole(self, timeout: float = 60) -> None:
        """Wait until every worker we supervise has (re)joined the scheduler."""
        deadline = time.monotonic() + timeout
        while missing := {name for name in self._supervisor.procs() if not _is_actor_host(name)} - self._present:
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(missing)} did not come back")
            time.sleep(0.05)

    def _all_procs(self) -> list[Process]:
        """Every process this cluster started and has not given up on: workers, store, actor
        hosts, the spare host and the standby."""
        with self._lock:
            extra = [proc for proc in (self._standby, self._spare[1] if self._spare else None) if proc is not None]
        return [*self._supervisor.procs().values(), *extra]

    def all_pids(self) -> list[int]:
        """The pids of every process this cluster started that is alive."""
        return [proc.pid for proc in self._all_procs() if proc.poll() is None]

    def worker_pids(self) -> list[int]:
        """The pids of the task workers (not the object store, not actor hosts)."""
        return [proc.pid for name, proc in self._supervisor.procs().items() if name.startswith("worker-")]

    def close(self) -> None:
        """Stop the scheduler, which tells the workers to exit; then make sure they did."""
        if self._supervisor.closing:
            return
        self._supervisor.close()
        with self._lock:
            standby, self._standby = self._standby, None
        if standby is not None:
            stop([standby], timeout=0)  # it waits for orders and never joined: no need to wait
        try:
            self._loop_runner.run_sync(self.scheduler.close, timeout=5)
        except Exception:  # closing is best effort; the processes are stopped below anyway
            logger.debug("scheduler close failed", exc_info=True)
        stop(self._all_procs(), timeout=STOP_TIMEOUT, terminate=True)  # nothing left to save in them
        shared_memory.remove_all(self.shared_prefix)  # what a process killed above could not remove
        self._loop_runner.stop()

    def __repr__(self) -> str:
        workers = [name for name in self._supervisor.procs() if name.startswith("worker-")]
        return f"<EmbeddedCluster {self.scheduler_address} workers={len(workers)}>"
