"""Every private name of Dask (and cloudpickle) that raycompat uses, wrapped here with the reason.

Neither offers a public hook for these. Keeping them in one module means a Dask upgrade breaks
in one place, and ``tests/test_dask_private.py`` checks each name still exists and behaves as
used here, so a change fails loudly instead of turning a feature silently off.
"""

from __future__ import annotations

import io
import types
from collections import ChainMap
from typing import Any

import cloudpickle
from distributed.worker import thread_state

# Seconds between batches on every Dask stream we control. Dask batches the messages of its
# long-lived streams and waits before each batch: 10 ms from a client to the scheduler, 5 ms
# from the scheduler to a worker, 2 ms from a worker to the scheduler. A synchronous
# ``get(f.remote())`` crosses all three, so these waits, not the work, set its pace. Under
# load batches still form: a stream sends whatever queued up while it was busy.
STREAM_INTERVAL = 0.001


def running_task_key() -> str | None:
    """The key of the Dask task running in this thread, if any.

    Private: ``distributed.worker.thread_state.key``; ``get_worker()`` says only which worker.
    """
    return getattr(thread_state, "key", None)


def worker_client(worker: Any, timeout: float | None = None) -> Any:
    """The worker's own client, made on first use and made the default client.

    Private: ``Worker._get_client``. The public ``distributed.worker_client`` secedes from the
    thread pool, which a task that only submits must not do; ``get_client`` needs a task thread.
    """
    return worker._get_client() if timeout is None else worker._get_client(timeout=timeout)


async def future_finished(future: Any) -> None:
    """Wait on the client's event loop until ``future`` finishes (or errs, or is cancelled).

    Private: ``Future._state.wait()``. ``add_done_callback`` adds a hop through Dask's callback
    thread to every completion, which ``wait()`` measurably pays for (docs/performance.md).
    """
    await future._state.wait()


def cancel_reason(future: Any) -> str:
    """Why a cancelled future was cancelled (``"scheduler-connection-lost"``, ...).

    Private: ``Future._state.exception.reason``; ``Future.exception()`` raises instead.
    """
    return str(getattr(future._state.exception, "reason", "") or "")


def shorten_client_batching(client: Any) -> None:
    """Shorten the batching delay from this client to the scheduler.

    Private: ``Client.scheduler_comm`` (a ``BatchedSend``) and its ``interval``.
    """
    comm = getattr(client, "scheduler_comm", None)
    if comm is not None:
        comm.interval = STREAM_INTERVAL


def shorten_worker_batching(worker: Any) -> None:
    """Shorten the batching delay from this worker to the scheduler.

    Private: ``Worker.batched_stream.interval``.
    """
    worker.batched_stream.interval = STREAM_INTERVAL


def shorten_scheduler_batching(scheduler: Any, *, worker: str | None = None, client: str | None = None) -> None:
    """Shorten the batching delay from the scheduler to ``worker`` or ``client``.

    Private: ``Scheduler.stream_comms`` and ``Scheduler.client_comms``.
    """
    comms = scheduler.stream_comms if worker is not None else scheduler.client_comms
    comm = comms.get(worker if worker is not None else client)
    if comm is not None:
        comm.interval = STREAM_INTERVAL


def gather(client: Any, futures: list[Any]) -> list[Any]:
    """Fetch the values of ``futures`` from where they are, in one round trip.

    Private: ``Client._gather``. The public ``Client.gather``, called in a task, hands back the
    very objects the worker holds (``local_worker``), so a task that changed a value it read
    would change it for every other reader; Ray gives each reader its own copy.
    """
    return client.sync(client._gather, futures)  # type: ignore[no-any-return]


def _code_reduce_keeping_filename(code: types.CodeType) -> tuple[Any, tuple[Any, ...]]:
    constructor, args = cloudpickle.cloudpickle._code_reduce(code)
    return constructor, tuple(code.co_filename if arg == "<dynamic-code>" else arg for arg in args)


class _CodePickler(cloudpickle.Pickler):
    dispatch_table = ChainMap({types.CodeType: _code_reduce_keeping_filename}, cloudpickle.Pickler.dispatch_table)


def dumps_keeping_filenames(obj: Any) -> bytes:
    """cloudpickle ``obj`` (a function or class), keeping the file names of its code.

    Private: ``cloudpickle.cloudpickle._code_reduce``. Since cloudpickle 3.1 every code object
    it pickles is renamed ``<dynamic-code>``, so a remote traceback of the user's function
    shows no file and no source line; Ray's shows the script's own.
    """
    buffer = io.BytesIO()
    _CodePickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
    return buffer.getvalue()
