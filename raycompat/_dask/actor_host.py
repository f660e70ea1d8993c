"""Starting and restarting actor host processes (the host itself is worker/actor_host.py).

Each actor lives in its own process, a paused Dask worker started with ``--actor-id``. A
supervisor thread in the process that started it waits for it to exit and starts it again
while the actor registry says the actor may restart.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from typing import Any

from .protocol import CONNECT_OP, SPARE  # noqa: F401 - callers read them here

# -- starting and restarting hosts ----------------------------------------------------------------


def launch(
    scheduler_address: str, actor_id: str, incarnation: int, env: dict[str, str], quiet: bool = False, name: str | None = None
) -> subprocess.Popen[bytes]:
    """Start a host process for ``actor_id`` (or a spare host, with ``SPARE``)."""
    from .cluster import worker_command

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


def supervise(
    proc: subprocess.Popen[bytes],
    scheduler_address: str,
    actor_id: str,
    incarnation: int,
    report_exit: Callable[[int], dict[str, Any]],
    env: dict[str, str],
    quiet: bool = False,
) -> None:
    """Watch the host process; start it again while the registry says the actor may restart."""

    def watch(proc: subprocess.Popen[bytes], inc: int) -> None:
        while True:
            proc.wait()
            try:
                decision = report_exit(inc)
            except Exception:  # the scheduler is gone: nothing to restart for
                return
            if not decision.get("restart"):
                return
            inc = decision["incarnation"]
            proc = launch(scheduler_address, actor_id, inc, env, quiet)

    threading.Thread(target=watch, args=(proc, incarnation), name=f"actor-{actor_id[:8]}", daemon=True).start()


def spawn(
    scheduler_address: str,
    actor_id: str,
    incarnation: int,
    report_exit: Callable[[int], dict[str, Any]],
    env: dict[str, str],
    quiet: bool = False,
) -> subprocess.Popen[bytes]:
    """Start the host process and its supervisor."""
    proc = launch(scheduler_address, actor_id, incarnation, env, quiet)
    supervise(proc, scheduler_address, actor_id, incarnation, report_exit, env, quiet)
    return proc


def spawn_in_worker(actor_id: str, incarnation: int, env_vars: dict[str, str]) -> int:
    """Dask task: start an actor host as a child of this worker (for clusters we did not start)."""
    from distributed import get_worker
    from distributed.utils import sync

    from .cluster import worker_env

    worker = get_worker()

    def report_exit(inc: int) -> dict[str, Any]:
        return sync(  # type: ignore[no-any-return]
            worker.loop, worker.scheduler.raycompat_actor, action="host_exited", actor_id=actor_id, incarnation=inc
        )

    proc = spawn(worker.scheduler.address, actor_id, incarnation, report_exit, worker_env(env_vars))
    return proc.pid
