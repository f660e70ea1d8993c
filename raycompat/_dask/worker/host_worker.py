"""The paused Dask worker that holds data and runs no task: actor hosts and the object store.

An actor host (actor_host.py) and the embedded cluster's object store are each a ``HostWorker``:
their values are ordinary Dask data that tasks can depend on, but the scheduler never gives
them a task, so no task can crash them. ``accept_puts`` lets the driver store ``put()`` objects
in a worker directly (the client side is ``_dask/object_store.py``): Dask's own scatter only
places data on running workers.
"""

from __future__ import annotations

from typing import Any

from dask.sizeof import sizeof

from .. import dask_private, shared_memory

PUT_OP = "raycompat_store_put"


HostWorker = dask_private.PausedWorker  # never given a task; serves its data like any worker


def accept_puts(worker: Any) -> None:
    """Let the driver store ``put()`` objects in this worker process."""

    async def put(comm: Any = None, data: dict[str, Any] | None = None, client: str = "") -> None:
        await keep(worker, data or {}, client)

    worker.handlers[PUT_OP] = put


async def keep(worker: Any, data: dict[str, Any], client: str) -> None:
    """Hold ``data`` in ``worker`` as Dask data for ``client``, and tell the scheduler.

    A shared-memory record is sent to one process only, which owns its file: it removes it once
    Dask frees the record here (shared_memory.own).
    """
    for value in data.values():
        if isinstance(value, shared_memory.Shared):
            shared_memory.own(value)
    dask_private.store_in_worker(worker, data)
    await worker.scheduler.update_data(
        who_has={key: [worker.address] for key in data},
        nbytes={key: sizeof(value) for key, value in data.items()},
        client=client,
    )
