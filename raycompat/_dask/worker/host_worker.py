"""The paused Dask worker that holds data and runs no task: actor hosts and the object store.

An actor host (actor_host.py) and the embedded cluster's object store are each a ``HostWorker``:
their values are ordinary Dask data that tasks can depend on, but the scheduler never gives
them a task, so no task can crash them. ``accept_puts`` lets the driver store ``put()`` objects
in a worker directly (the client side is ``_dask/object_store.py``): Dask's own scatter only
places data on running workers.
"""

from __future__ import annotations

import contextvars
from typing import Any

from dask.sizeof import sizeof
from distributed import Worker
from distributed.core import Status

PUT_OP = "raycompat_store_put"


class HostWorker(Worker):
    """A Dask worker that is never "running", so the scheduler never gives it a task.

    It registers while still starting and turns "paused" instead of "running" afterwards;
    paused workers keep their data and serve it to others. Dask serves a paused worker's data
    one transfer at a time, to relieve its memory; a host is paused only to get no task, so
    while it serves data it counts as running and serves as many transfers as any worker.
    """

    @property
    def status(self) -> Status:
        status: Status = Worker.status.fget(self)  # type: ignore[attr-defined]
        return Status.running if status == Status.paused and _SERVING_DATA.get() else status

    @status.setter
    def status(self, value: Status) -> None:
        Worker.status.fset(self, Status.paused if value == Status.running else value)  # type: ignore[attr-defined]

    async def get_data(self, comm: Any, keys: Any, who: str | None = None, serializers: Any = None) -> Any:
        token = _SERVING_DATA.set(True)  # seen by this request only: heartbeats still say "paused"
        try:
            return await Worker.get_data(self, comm, keys, who, serializers)
        finally:
            _SERVING_DATA.reset(token)


_SERVING_DATA = contextvars.ContextVar("raycompat_serving_data", default=False)


def accept_puts(worker: Any) -> None:
    """Let the driver store ``put()`` objects in this worker process."""

    async def put(comm: Any = None, data: dict[str, Any] | None = None, client: str = "") -> None:
        data = data or {}
        worker.update_data(data=data)
        await worker.scheduler.update_data(
            who_has={key: [worker.address] for key in data},
            nbytes={key: sizeof(value) for key, value in data.items()},
            client=client,
        )

    worker.handlers[PUT_OP] = put
