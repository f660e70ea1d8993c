"""Entry point of a raycompat worker process: ``python -m raycompat._dask.worker.main ADDRESS``.

It runs one plain Dask worker (no nanny: the embedded cluster's supervisor, or the actor's
creator, plays that part) and exits when the process that started it dies, so a killed driver
leaves no worker behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time

from distributed import Worker

from ... import _alias
from .. import settings, shared_memory
from . import actor_host, host_worker, tasks

LOCALHOST = "127.0.0.1"


def _exit_with_parent(parent_pid: int) -> None:
    """Leave at once when the parent process is gone (its pid is no longer our parent)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                shared_memory.remove_owned()
                os._exit(0)
            time.sleep(0.25)

    threading.Thread(target=watch, name="raycompat-parent-watch", daemon=True).start()


class _QuietExpectedErrors(logging.Filter):
    """Drop two Dask worker reports that a Ray user would see as noise on the driver's terminal.

    "Compute Failed": the task's error already reaches its caller as a RayTaskError.
    A failed heartbeat: at shutdown the scheduler closes before its workers do.
    """

    QUIET = ("Compute Failed", "Failed to communicate with scheduler during heartbeat")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.QUIET)


async def _serve(args: argparse.Namespace) -> None:
    settings.scoped(settings.DATA_HOLDER if args.actor_id or args.store else settings.WORKER)
    worker_class = host_worker.HostWorker if args.actor_id or args.store else Worker
    worker = worker_class(
        args.scheduler,
        name=args.name,
        nthreads=args.nthreads,
        resources=json.loads(args.resources) or None,
        host=args.host,
        dashboard=False,
        memory_limit=args.memory_limit,
    )
    await worker
    tasks.setup_worker(worker)
    if args.actor_id:
        actor_host.setup(worker, args.actor_id, args.incarnation)
    else:  # task workers and the object store take large put() objects
        host_worker.accept_puts(worker)
    await worker.finished()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="raycompat-worker")
    parser.add_argument("scheduler")
    parser.add_argument("--name", default=None)
    parser.add_argument("--nthreads", type=int, default=1)
    parser.add_argument("--resources", default="{}")
    parser.add_argument("--memory-limit", default="0")
    parser.add_argument("--host", default=LOCALHOST)
    parser.add_argument("--parent-pid", type=int, default=0)
    parser.add_argument("--actor-id", default=None, help="host this actor (see worker/actor_host.py)")
    parser.add_argument("--incarnation", type=int, default=0)
    parser.add_argument("--store", action="store_true", help="hold put() objects; run no task")
    parser.add_argument(
        "--standby", action="store_true", help="import everything, then wait for a JSON line of settings on stdin"
    )
    args = parser.parse_args(argv)
    logging.getLogger("distributed.worker").addFilter(_QuietExpectedErrors())
    # The worker's client (tasks use it) reports failed reconnects when the cluster shuts down.
    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
    if args.parent_pid:
        _exit_with_parent(args.parent_pid)
    _alias.install_as_ray()
    if args.standby:
        _wait_for_orders(args)
    asyncio.run(_serve(args))


def _wait_for_orders(args: argparse.Namespace) -> None:
    """A standby worker: imported and ready, it starts when told its name and resources.

    Starting Python and importing Dask (this module's imports) takes about a second; a standby
    replaces a dead worker in a few milliseconds. End of input (our parent is gone) means exit.
    """
    line = sys.stdin.readline()
    if not line.strip():
        raise SystemExit(0)
    orders = json.loads(line)
    args.name = orders["name"]
    args.resources = json.dumps(orders["resources"])


if __name__ == "__main__":
    main()
