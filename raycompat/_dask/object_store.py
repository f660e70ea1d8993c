"""The embedded cluster's object store: a process that holds large ``put()`` objects.

It is a paused Dask worker (worker/host_worker.py): it keeps data and serves it to the workers
whose tasks need it, but runs no task, so no task can crash it. Dask's own scatter only places
data on running workers, so the driver sends values here with its own handler (``accept_puts``
there; this module is the driver's side).

A large put also leaves a copy on one task worker, as Dask's scatter would: the scheduler then
runs the tasks that read it where it already is, instead of copying it out of the store to
every worker. That copy dies with its worker; the store's stays.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from distributed import Client, Future
from distributed.protocol.serialize import ToPickle

logger = logging.getLogger("raycompat")


def store(client: Client, key: str, value: Any, addresses: list[str]) -> Future:
    """Put ``value`` in the cluster under ``key``: at ``addresses`` (the embedded cluster's
    object store first), or else on a worker, as Dask's scatter does."""
    if addresses:
        return put(client, addresses, key, value)
    return client.scatter({key: value}, hash=False)[key]


def put(client: Client, addresses: list[str], key: str, value: Any) -> Future:
    """Store ``value`` under ``key`` in the workers at ``addresses`` at once; return its future.

    The first address must take it; the others hold extra copies, and a worker that dies while
    it receives one does not fail the put.
    """
    future = Future(key, client)  # exists before the scheduler reports the key: no report is missed
    data = {key: ToPickle(value)}  # one pickle: Dask would serialize a long list item by item

    async def send() -> None:
        sends = [client.rpc(a).raycompat_store_put(data=data, client=client.id) for a in addresses]
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        if isinstance(outcomes[0], BaseException):
            raise outcomes[0]
        for address, outcome in zip(addresses[1:], outcomes[1:]):
            if isinstance(outcome, BaseException):
                logger.debug("no extra copy of %s on %s: %r", key, address, outcome)

    client.sync(send)
    return future
