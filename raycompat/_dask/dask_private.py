"""Every private name of Dask (and cloudpickle) that raycompat uses, wrapped here with the reason.

Neither offers a public hook for these. Keeping them in one module means a Dask upgrade breaks
in one place, and ``tests/test_dask_private.py`` checks each name still exists and behaves as
used here, so a change fails loudly instead of turning a feature silently off.
"""

from __future__ import annotations

import contextvars
import io
import time
import types
from collections import ChainMap
from collections.abc import Callable
from typing import Any

import cloudpickle
from distributed import Worker
from distributed.core import Status
from distributed.worker import thread_state
from distributed.worker_state_machine import FreeKeysEvent

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


def future_client(future: Any) -> Any:
    """The client that ``future`` belongs to, without binding it.

    Private: ``Future._client``. The public ``Future.client`` binds the future late on every
    access, a Python call per ref that ``wait()`` pays on every call of a drain loop (1,000
    finished refs: 23,000 -> 9,000 waits/s).
    """
    return future._client


def clients_of_refs(refs: Any) -> set[Any]:
    """The clients of the futures behind ``refs`` (ObjectRefs), in one pass at set-comprehension
    speed; AttributeError if one has no future. Private: ``Future._client``, as ``future_client``."""
    return {ref._future._client for ref in refs}


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


async def gather(client: Any, futures: list[Any]) -> list[Any]:
    """Fetch the values of ``futures`` from where they are, in one round trip.

    Private: ``Client._gather``. The public ``Client.gather``, called in a task, hands back the
    very objects the worker holds (``local_worker``), so a task that changed a value it read
    would change it for every other reader; Ray gives each reader its own copy.
    """
    return await client._gather(futures)  # type: ignore[no-any-return]


# -- in a worker ---------------------------------------------------------------------------------


def worker_task(worker: Any, key: str) -> Any:
    """The worker's record of task ``key`` (its annotations, its resource restrictions), or None.

    Private: ``Worker.state.tasks``, the worker state machine's table; a running task has no
    public way to read its own annotations or the resources Dask reserved for it.
    """
    return worker.state.tasks.get(key)


def store_in_worker(worker: Any, data: dict[str, Any]) -> None:
    """Keep ``data`` in this worker as Dask data under its keys (the scheduler is told apart).

    Private: ``Worker.update_data``, the handler behind ``scatter``, called in the worker for
    values made outside a task (an actor call's results, a generator's items, a put).
    """
    worker.update_data(data=data, stimulus_id=f"raycompat-store-{time.time()}")


def free_in_worker(worker: Any, keys: list[str]) -> None:
    """Drop ``keys`` that this worker stored but no one will read (a closed generator's items).

    Private: ``distributed.worker_state_machine.FreeKeysEvent`` and ``Worker.handle_stimulus``;
    the scheduler frees keys only once it knows them, and these it never will.
    """
    worker.handle_stimulus(FreeKeysEvent(keys=keys, stimulus_id=f"raycompat-free-{time.time()}"))


_SERVING_DATA = contextvars.ContextVar("raycompat_serving_data", default=False)


class PausedWorker(Worker):
    """A Dask worker that is never "running", so the scheduler never gives it a task.

    It registers while still starting and turns "paused" instead of "running" afterwards;
    paused workers keep their data and serve it to others. Dask serves a paused worker's data
    one transfer at a time, to relieve its memory; a worker paused only to get no task counts
    as running while it serves data, and serves as many transfers as any worker.

    Private: overriding ``Worker.status`` (a property) and ``Worker.get_data`` (the handler
    that serves data). Dask has no "hold data, run nothing" worker: a worker with no threads
    cannot start, and a resource no task asks for still lets every task in.
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


# -- in the scheduler ----------------------------------------------------------------------------

# How the stimulus id starts when the scheduler releases a task because its worker died. Dask
# uses the first when a worker's connection drops (``Scheduler.handle_worker``); the other two
# match no call site in the Dask we test with (the guard test checks the first).
WORKER_DEATH_STIMULI = ("handle-worker-cleanup", "remove-worker", "worker-died")


def released_by_worker_death(start: str, finish: str, stimulus_id: str) -> bool:
    """Whether a scheduler transition puts a task back because its worker died running it.

    Private: the ``stimulus_id`` prefixes of ``Scheduler.remove_worker``'s callers. The
    ``remove_worker`` plugin hook does not say which tasks were running there.
    """
    return start == "processing" and finish == "released" and stimulus_id.startswith(WORKER_DEATH_STIMULI)


def worker_deaths(ts: Any) -> int:
    """How many workers died while running the task.

    Private: ``TaskState.suspicious``, Dask's own count, kept against ``allowed-failures``.
    """
    return int(ts.suspicious)


def annotate(ts: Any, name: str, value: Any) -> None:
    """Add an annotation to a task the scheduler knows; the next worker to run it sees it.

    Private: writing ``TaskState.annotations``. Annotations are public only as set at
    submission (``dask.annotate``); the scheduler sends ``ts.annotations`` with every run.
    """
    ts.annotations = {**(ts.annotations or {}), name: value}


def update_data(scheduler: Any, who_has: dict[str, list[str]], nbytes: dict[str, int], client: str) -> None:
    """Make keys that a worker stored on its own Dask data, wanted by ``client``.

    Private: ``Scheduler.update_data`` called in the scheduler; ``Client.scatter`` stores data
    from a client, not data already in a worker (an actor host's results, a generator's items).
    """
    scheduler.update_data(who_has=who_has, nbytes=nbytes, client=client)


def client_desires_keys(scheduler: Any, keys: list[str], client: str) -> None:
    """Keep ``keys`` for ``client`` as if it had submitted them; report their state to it.

    Private: ``Scheduler.client_desires_keys``. A ``Future(key, client)`` made from a key
    registers nothing with the scheduler, and no public call asks to keep a key one did not
    submit. Make the client's Future first: the report goes to the futures it holds.
    """
    scheduler.client_desires_keys(keys=keys, client=client)


def show_in_task_stream(stream: Any, key: str, worker: str, start: float, stop: float) -> None:
    """Show a call that ran outside Dask's tasks (an actor call) in the dashboard's task stream.

    Private: ``TaskStreamPlugin.transition`` called with a made-up processing -> memory
    transition; the task stream records only tasks, and has no way to add a record.
    """
    stream.transition(
        key,
        "processing",
        "memory",
        startstops=[{"action": "compute", "start": start, "stop": stop}],
        worker=worker,
        thread=0,
        status="OK",
        nbytes=0,
        type=None,
        typename=None,
        metadata={},
    )


def queue_every_task_until_a_slot_opens(scheduler: Any, predicate: Callable[[Any], bool]) -> None:
    """Make ``scheduler`` queue every task for which ``predicate(ts)`` holds, as root-ish.

    Private: replacing ``Scheduler.is_rootish`` on the instance. Dask queues only the tasks it
    finds root-ish, by a heuristic about task groups, and offers no setting to widen it.
    """
    scheduler.is_rootish = predicate


def add_http_pages(scheduler: Any, application: Any) -> None:
    """Serve ``application``'s pages from the scheduler's HTTP server, after those it has.

    Private: ``Scheduler.http_application`` (distributed's ``RoutingApplication``) and its
    ``add_application``; Dask adds its own pages only when the scheduler starts.
    """
    scheduler.http_application.add_application(application)


def remove_http_pages(scheduler: Any, application: Any) -> None:
    """Stop serving the pages that ``add_http_pages`` added. Private: as ``add_http_pages``."""
    scheduler.http_application.applications.remove(application)


def connect_dashboard(scheduler: Any, dashboard: Any) -> None:
    """Add Dask's Bokeh dashboard to a scheduler that started without it.

    Private: ``distributed.dashboard.scheduler.connect``, which the scheduler calls at start
    only; raycompat loads Bokeh after ``init()`` returns (scheduler/dashboard.py says why).
    """
    dashboard.connect(scheduler.http_application, scheduler.http_server, scheduler)


# -- cloudpickle ---------------------------------------------------------------------------------


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
