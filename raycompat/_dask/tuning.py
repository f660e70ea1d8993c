"""Dask settings raycompat changes, each with the effect measured (docs/performance.md).

Dask batches the messages of its long-lived streams and waits a few milliseconds before each
batch: 10 ms from a client to the scheduler, 5 ms from the scheduler to a worker, 2 ms from a
worker to the scheduler. A synchronous ``get(f.remote())`` crosses all three, so these waits,
not the work, set its pace. raycompat shortens them; under load, batches still form, because
a stream sends whatever has queued up while it was busy.
"""

from __future__ import annotations

from typing import Any

STREAM_INTERVAL = 0.001  # seconds between batches on every stream we control


def fast_client(client: Any) -> None:
    """Shorten the batching delay from this client to the scheduler."""
    comm = getattr(client, "scheduler_comm", None)
    if comm is not None:
        comm.interval = STREAM_INTERVAL


def fast_worker(worker: Any) -> None:
    """Shorten the batching delay from this worker to the scheduler."""
    worker.batched_stream.interval = STREAM_INTERVAL
