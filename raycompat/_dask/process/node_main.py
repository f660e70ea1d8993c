"""One node of `raycompat start`: ``python -m raycompat._dask.process.node_main CONFIG.json``.

This process runs in the background after `raycompat start` returns. On the head node it runs
the Dask scheduler (and its dashboard) itself; on every node it starts this machine's worker
process and restarts it if it dies. The worker process exits when this one does (it watches
its parent), so `raycompat stop` only has to stop this process.

Layout of a node, for Ray's resource semantics: one worker process with ``num_cpus`` threads
that advertises ``CPU=num_cpus`` (and GPU, memory and custom resources). A ``num_cpus=2`` task
then takes two of the node's CPUs, so no more run at once than the node has CPUs.

When ready it writes CONFIG's ``ready_file``: {"address", "dashboard_url", "worker_pids"},
or {"error": "..."} if it could not start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from distributed import Scheduler
from distributed.core import rpc
from distributed.utils import get_ip

from .. import settings, tls
from ..scheduler.queueing import queue_until_a_slot_opens
from . import commands
from .supervisor import Process, Supervisor, stop

logger = logging.getLogger("raycompat")

READY_TIMEOUT = 60.0
RESTART_DELAY = 1.0  # seconds before a worker that exited is started again
STOP_TIMEOUT = 5.0  # seconds the worker gets to exit on SIGTERM before it is killed


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _dashboard_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return str(get_ip())
    return host


class Node:
    """The head scheduler (on the head node) and this machine's worker process, restarted if it dies."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.scheduler: Any = None
        self.address: str = config.get("address") or ""
        self.commands: dict[str, list[str]] = {}  # worker name -> its command line
        self.procs: dict[str, Process] = {}  # worker name -> its current process
        self.supervisor = Supervisor(name="raycompat-node-supervisor")
        self._closing = threading.Event()
        self.paths = config.get("tls")

    def worker_commands(self) -> dict[str, list[str]]:
        cfg = self.config
        if cfg["num_cpus"] <= 0:
            return {}
        resources: dict[str, float] = {"CPU": float(cfg["num_cpus"])}
        if cfg["num_gpus"]:
            resources["GPU"] = float(cfg["num_gpus"])
        if cfg.get("memory"):
            resources["memory"] = float(cfg["memory"])
        resources.update({k: float(v) for k, v in cfg["resources"].items()})
        name = f"raycompat-{cfg['host']}-{os.getpid()}"
        cmd = commands.worker_command(
            self.address, name=name, nthreads=int(max(1, round(cfg["num_cpus"]))), resources=resources
        )
        return {name: cmd + ["--host", cfg["host"]]}

    def worker_env(self) -> dict[str, str]:
        env = commands.worker_env({})
        if self.paths:
            env.update(tls.worker_env(self.paths))
        return env

    async def start(self) -> dict[str, Any]:
        cfg = self.config
        # The head node's scheduler gets the embedded scheduler's settings (settings.py).
        settings.scoped(settings.SCHEDULER if cfg["head"] else settings.CLIENT)
        security = tls.security(self.paths) if self.paths else None
        dashboard_url = None
        if cfg["head"]:
            dashboard = cfg.get("dashboard_port")
            self.scheduler = Scheduler(
                host=cfg["host"],
                port=cfg["port"],
                protocol="tls" if self.paths else "tcp",
                security=security,
                dashboard=dashboard is not None,
                dashboard_address=f"{cfg['host']}:{dashboard}" if dashboard is not None else ":0",
                validate=False,
            )
            await self.scheduler
            queue_until_a_slot_opens(self.scheduler)
            self.address = self.scheduler.address
            if dashboard is not None:
                port = self.scheduler.http_server.port
                dashboard_url = f"http://{_dashboard_host(cfg['host'])}:{port}/status"
        elif "://" not in self.address:
            self.address = f"{'tls' if self.paths else 'tcp'}://{self.address}"
        self.env = self.worker_env()
        self.commands = self.worker_commands()
        for name, cmd in self.commands.items():
            self.procs[name] = self._spawn(cmd)
        await self._wait_for_workers(security)
        for name, proc in self.procs.items():  # from here on, a worker that dies is restarted
            self.supervisor.watch(name, proc, self._restart)
        return {"address": self.address, "dashboard_url": dashboard_url, "worker_pids": [p.pid for p in self.procs.values()]}

    def _spawn(self, cmd: list[str]) -> Process:
        return subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL)

    def _restart(self, name: str, proc: Process) -> Process | None:
        """The supervisor's policy for this node's worker: start it again, after a pause."""
        logger.warning("raycompat worker (pid %s) exited with code %s; starting a new one.", proc.pid, proc.returncode)
        if self._closing.wait(RESTART_DELAY):
            return None
        self.procs[name] = self._spawn(self.commands[name])
        return self.procs[name]

    async def _wait_for_workers(self, security: Any) -> None:
        """Return once every worker of this node has joined the scheduler."""
        names = set(self.commands)
        if not names:
            return
        deadline = time.monotonic() + READY_TIMEOUT
        if self.scheduler is not None:
            while {str(ws.name) for ws in self.scheduler.workers.values()} < names:
                self._check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"this node's worker did not join within {READY_TIMEOUT:.0f} s")
                await asyncio.sleep(0.1)
            return
        async with rpc(self.address, connection_args=security.get_connection_args("client") if security else {}) as scheduler:
            while True:
                self._check_alive()
                try:
                    info = await scheduler.identity(n_workers=-1)
                    if {str(w.get("name")) for w in info.get("workers", {}).values()} >= names:
                        return
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"this node's worker could not join the cluster at {self.address} within "
                        f"{READY_TIMEOUT:.0f} s"
                    )
                await asyncio.sleep(0.2)

    def _check_alive(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is not None:
                raise RuntimeError(f"this node's worker process exited with code {proc.returncode} before joining")

    async def close(self) -> None:
        """Stop restarting, stop the worker (SIGTERM, then SIGKILL), then the scheduler."""
        self._closing.set()
        self.supervisor.close()
        await asyncio.to_thread(stop, self.procs.values(), STOP_TIMEOUT, terminate=True)
        if self.scheduler is not None:
            try:
                await asyncio.wait_for(self.scheduler.close(), 2)
            except Exception:  # closing is best effort
                logger.debug("scheduler close failed", exc_info=True)


async def _main(config: dict[str, Any]) -> int:
    node = Node(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        ready = await node.start()
    except BaseException as exc:  # noqa: BLE001 - any failure is reported to `raycompat start`
        _write_json(config["ready_file"], {"error": f"{type(exc).__name__}: {exc}"})
        await node.close()
        return 1
    ready["pid"] = os.getpid()
    _write_json(config["ready_file"], ready)
    await stopping.wait()  # meanwhile the node's supervisor restarts its worker if it dies
    await node.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0]) as f:
        config = json.load(f)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    raise SystemExit(asyncio.run(_main(config)))


if __name__ == "__main__":
    main()
