"""The embedded cluster's object store: a process that holds large ``put()`` objects.

It is a paused Dask worker (see actor_host.HostWorker): it keeps data and serves it to the
workers whose tasks need it, but runs no task, so no task can crash it. Dask's own scatter only
places data on running workers, so the driver sends values here with its own handler.
"""

from __future__ import annotations

from typing import Any

from dask.sizeof import sizeof
from distributed import Client, Future
from distributed.protocol import to_serialize

PUT_OP = "raycompat_store_put"


def setup(worker: Any) -> None:
    """Make this worker process the object store."""

    async def put(comm: Any = None, data: dict[str, Any] | None = None, client: str = "") -> None:
        data = data or {}
        worker.update_data(data=data)
        await worker.scheduler.update_data(
            who_has={key: [worker.address] for key in data},
            nbytes={key: sizeof(value) for key, value in data.items()},
            client=client,
        )

    worker.handlers[PUT_OP] = put


def put(client: Client, address: str, key: str, value: Any) -> Future:
    """Store ``value`` under ``key`` in the object store at ``address``; return its future."""
    future = Future(key, client)  # exists before the scheduler reports the key: no report is missed
    client.sync(client.rpc(address).raycompat_store_put, data={key: to_serialize(value)}, client=client.id)
    return future
