"""How a raycompat worker process is started: its command line, its environment, its port."""

from __future__ import annotations

import errno
import json
import os
import sys

from distributed.utils import open_port

from ... import _alias
from ..protocol import EMBEDDED_WORKER_ENV

LOCALHOST = "127.0.0.1"


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
        "raycompat._dask.worker.main",
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
    _alias.inherit(env)  # what a task or an actor starts gets `import ray` too
    env["PYTHONUNBUFFERED"] = "1"
    env[EMBEDDED_WORKER_ENV] = "1"
    env.update(env_vars or {})
    return env


def free_port(avoid: int | None = None) -> int:
    """Return a port on 127.0.0.1 that is free now (another process may take it before we bind)."""
    while True:
        port = open_port(LOCALHOST)
        if port != avoid:
            return port


def port_taken(exc: BaseException) -> bool:
    """Whether ``exc`` was caused, at any depth, by a port already in use."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.EADDRINUSE:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
