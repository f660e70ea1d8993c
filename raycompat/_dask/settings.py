"""Every Dask setting raycompat changes, one table per role, each with its measured reason.

A role is a kind of process raycompat runs or joins: the driver's client, a scheduler that
raycompat starts (embedded, or the head node of `raycompat start`), a task worker, and a
process that holds data but runs no task (an actor host, the object store). ``scoped`` applies
a table for as long as raycompat uses it: ``ray.shutdown()`` gives the process back its own
``dask.config``, so a user's Dask code after it runs with the user's settings.
"""

from __future__ import annotations

from typing import Any

import dask

# Every Dask stream keeps its last N batches for debugging; at our 1 ms batching that is
# thousands of task messages (20,000 tasks: driver peak RSS 347 -> 294 MB with 20).
_STREAM_LOG = {"distributed.admin.low-level-log-length": 20}

CLIENT: dict[str, Any] = {**_STREAM_LOG}

SCHEDULER: dict[str, Any] = {
    **_STREAM_LOG,
    # Stealing moves queued tasks between workers; with tasks queued in the scheduler until a
    # slot opens (queueing.py) it only adds work: off is faster.
    "distributed.scheduler.work-stealing": False,
    # Ray's max_retries is per task and checked by the task wrapper; Dask's limit is only a cap.
    "distributed.scheduler.allowed-failures": 100,
    # One task per thread on a worker: a worker that dies takes only its running task with it,
    # so a neighbour's crash never counts against innocent queued tasks.
    "distributed.scheduler.worker-saturation": 1.0,
    # The scheduler keeps this many events per topic (Dask: 10,000); it logs one per submission,
    # with its timings, to two topics (20,000 tasks: driver peak RSS 289 -> 273 MB with 1,000).
    "distributed.admin.log-length": 1000,
    # The dashboard's task stream keeps this many finished tasks (Dask: 100,000, about 1 KB each).
    "distributed.scheduler.dashboard.tasks.task-stream-length": 5000,
    # Dask's active memory manager drops extra copies of a key, paused workers' first: it would
    # drop the object store's copy of a put read by a task, and a worker crash would lose it.
    "distributed.scheduler.active-memory-manager.start": False,
    "distributed.scheduler.active-memory-manager.policies": [],
}

WORKER: dict[str, Any] = {
    **_STREAM_LOG,
    # Tasks may start processes of their own (multiprocessing), as in Ray.
    "distributed.worker.daemon": False,
}

# An actor host or the object store holds data and serves it but runs no Dask task: it stays
# paused (see worker/host_worker.py), so memory use must never un-pause it.
DATA_HOLDER: dict[str, Any] = {**WORKER, "distributed.worker.memory.pause": False}


def scoped(*tables: dict[str, Any]) -> Any:
    """Apply ``tables`` to this process's ``dask.config``; ``.close()`` on the result undoes it."""
    merged: dict[str, Any] = {}
    for table in tables:
        merged.update(table)
    return _Scope(dask.config.set(merged))


class _Scope:
    def __init__(self, applied: Any) -> None:
        self._applied = applied

    def close(self) -> None:
        if self._applied is not None:
            self._applied.__exit__(None, None, None)
            self._applied = None

