"""Starting an actor's host process, and starting it again while the actor may restart.

The embedded cluster spawns hosts from the driver, with its own supervisor; on a cluster we did
not start, a Dask task (``spawn_in_worker``) spawns the host as a child of a worker, watched by
that worker process's supervisor. Either way the scheduler's actor registry decides, through
``report_exit(incarnation)``, whether a host that exited comes back.
"""

from __future__ import annotations

import subprocess
import threading
from typing import Any, Callable

from .commands import worker_command, worker_env
from .supervisor import Process, Supervisor

ReportExit = Callable[[int], dict[str, Any]]  # incarnation that exited -> {"restart", "incarnation"}


def launch(
    scheduler_address: str, actor_id: str, incarnation: int, env: dict[str, str], quiet: bool = False, name: str | None = None
) -> Process:
    """Start a host process for ``actor_id`` (or a spare host, with ``protocol.SPARE``)."""
    cmd = worker_command(
        scheduler_address,
        name=name or f"actor-{actor_id[:12]}-{incarnation}",
        nthreads=1,
        resources={},
        actor_id=actor_id,
        incarnation=incarnation,
    )
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)


def spawn(
    supervisor: Supervisor,
    scheduler_address: str,
    actor_id: str,
    report_exit: ReportExit,
    env: dict[str, str],
    quiet: bool = False,
    proc: Process | None = None,
) -> Process:
    """Start the first host of ``actor_id`` (unless ``proc`` is one already) and watch it.

    When the host exits, ``report_exit`` tells the registry, which answers whether the actor
    restarts and as which incarnation; the supervisor then starts that incarnation.
    """
    incarnation = 0

    def on_exit(name: str, exited: Process) -> Process | None:
        nonlocal incarnation
        decision = report_exit(incarnation)
        if not decision.get("restart"):
            return None
        incarnation = decision["incarnation"]
        return launch(scheduler_address, actor_id, incarnation, env, quiet)

    if proc is None:
        proc = launch(scheduler_address, actor_id, incarnation, env, quiet)
    supervisor.watch(f"actor-{actor_id}", proc, on_exit)
    return proc


def spawn_in_worker(actor_id: str, env_vars: dict[str, str]) -> int:
    """Dask task: start an actor host as a child of this worker (for clusters we did not start)."""
    from distributed import get_worker
    from distributed.utils import sync

    worker = get_worker()

    def report_exit(incarnation: int) -> dict[str, Any]:
        return sync(  # type: ignore[no-any-return]
            worker.loop, worker.scheduler.raycompat_actor_host_exited, actor_id=actor_id, incarnation=incarnation
        )

    proc = spawn(_worker_supervisor(), worker.scheduler.address, actor_id, report_exit, worker_env(env_vars))
    return proc.pid


_supervisor: Supervisor | None = None
_supervisor_lock = threading.Lock()


def _worker_supervisor() -> Supervisor:
    """The supervisor of the actor hosts this worker process started, made on first use.

    It is never closed: the hosts exit with this process (they watch their parent).
    """
    global _supervisor
    with _supervisor_lock:
        if _supervisor is None:
            _supervisor = Supervisor(name="raycompat-actor-supervisor")
        return _supervisor
