"""The Dask side of the driver: connecting, submitting, storing, fetching and waiting.

Concept modules call the verbs here and never touch ``distributed`` themselves. Each verb takes
the ``Backend`` of the current session (a Dask client, plus the embedded cluster if we started one).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import hashlib
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from typing import Any, Iterator

import cloudpickle
import dask
import distributed
from dask.sizeof import sizeof
from distributed import Client, Future

from .. import exceptions
from .._object_ref import ObjectRef
from . import nodes, object_store, runtime, tuning
from .process.commands import EMBEDDED_WORKER_ENV
from .process.embedded import EmbeddedCluster

# Values put by the driver up to this size stay in the driver and travel inside the tasks that
# use them, as Ray inlines small objects: no scheduler round trip at put() time.
INLINE_LIMIT = 100 * 1024
LOST = ("lost", "cancelled")  # statuses of a future whose data is gone

# Settings for the clusters we start and the clients we open, each measured (docs/performance.md).
DASK_SETTINGS = {
    "distributed.scheduler.work-stealing": False,  # stealing moves queued actor-free tasks; off is faster
    "distributed.worker.daemon": False,
    # Every Dask stream keeps its last N batches for debugging; at our 1 ms batching that is
    # thousands of task messages (20,000 tasks: driver peak RSS 347 -> 294 MB with 20).
    "distributed.admin.low-level-log-length": 20,
}

# Settings of the scheduler we start ourselves.
EMBEDDED_SCHEDULER_SETTINGS = {
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


class Backend:
    """A connection to a Dask cluster, and the cluster itself when we started it."""

    def __init__(
        self,
        client: Client,
        cluster: EmbeddedCluster | None,
        *,
        log_to_driver: bool,
        in_worker: bool = False,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self.in_worker = in_worker
        self._job_id = client.id
        self.log_to_driver = log_to_driver
        self.cpu_cap: float | None = 1.0 if cluster is not None else None
        self._output_lock = threading.Lock()
        tuning.fast_client(client)
        if not in_worker:  # the scheduler extension for actors and cross-process refs
            from .actor_registry import ensure_registered

            ensure_registered(client)
        if log_to_driver and not in_worker:
            client.subscribe_topic(runtime.OUTPUT_TOPIC, self._print_output)

    @property
    def job_id(self) -> str:
        """The driver's job: in a worker, that of the task running in this thread."""
        if self.in_worker and runtime.context.job_id:
            return runtime.context.job_id
        return self._job_id

    @property
    def address(self) -> str:
        return str(self.client.scheduler.address)

    @property
    def dashboard_url(self) -> str | None:
        if self.cluster is not None:
            return self.cluster.dashboard_url
        link = self.client.dashboard_link
        return str(link) if link else None

    def _print_output(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        if msg.get("job") != self.job_id:
            return
        import sys

        stream = sys.stderr if msg["stream"] == "stderr" else sys.stdout
        with self._output_lock:
            for line in msg["lines"]:
                stream.write(f"{msg['prefix']} {line}\n")
            stream.flush()

    def close(self) -> None:
        """Disconnect; stop the cluster only if we started it."""
        if self.in_worker:
            return
        try:
            if self.client.status == "running":
                self.client.close(timeout=5)
            else:  # the scheduler is gone: Dask would log its reconnect attempt being cut short
                with _silenced("distributed.client", "distributed.batched"):
                    self.client.close(timeout=5)
        finally:
            if self.cluster is not None:
                self.cluster.close()


@contextmanager
def _silenced(*loggers: str) -> Iterator[None]:
    saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in loggers]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


# -- connecting --------------------------------------------------------------------------------


def start_embedded(
    *,
    num_cpus: int,
    num_gpus: float,
    resources: dict[str, float],
    env_vars: dict[str, str],
    dashboard_port: int | None,
    include_dashboard: bool,
    log_to_driver: bool,
) -> Backend:
    """Start a scheduler here and ``num_cpus`` one-thread worker processes, then connect."""
    dask.config.set({**DASK_SETTINGS, **EMBEDDED_SCHEDULER_SETTINGS})
    first_worker = {"CPU": 1.0, **({"GPU": float(num_gpus)} if num_gpus else {}), **resources}
    cluster = EmbeddedCluster(
        num_workers=max(1, num_cpus),
        resources={"CPU": 1.0},
        first_worker_resources=first_worker,
        env_vars=env_vars,
        dashboard_port=dashboard_port,
        include_dashboard=include_dashboard,
        quiet_workers=not log_to_driver,
    )
    try:
        # Not direct_to_workers: it fetches values faster, but a gather that races a worker's
        # death can then wait forever (docs/performance.md).
        client = Client(cluster.scheduler_address, loop=cluster.loop, set_as_default=False)
        cluster.fast_client_stream(client.id)
        client.wait_for_workers(max(1, num_cpus), timeout=60)
    except BaseException:
        cluster.close()
        raise
    cluster.load_dashboard()
    return Backend(client, cluster, log_to_driver=log_to_driver)


def connect(address: str, *, log_to_driver: bool, security: Any = None, timeout: float = 10) -> Backend:
    """Join a running Dask scheduler at ``address``."""
    dask.config.set(DASK_SETTINGS)
    if "://" not in address:
        address = f"tcp://{address}"
    try:
        client = Client(address, set_as_default=False, timeout=timeout, security=security)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"Could not connect to a cluster at {address!r}: {exc}. Start one with "
            "`raycompat start --head` (or `dask scheduler` and `dask worker ADDRESS`), or call "
            "ray.init() without an address to start an embedded cluster."
        ) from None
    return Backend(client, None, log_to_driver=log_to_driver)


def worker_backend_or_none() -> Backend | None:
    """Inside a worker process: a backend on the worker's own client. Elsewhere: None."""
    worker = runtime._worker
    if worker is None:
        return None
    backend: Backend | None = getattr(worker, "_raycompat_backend", None)
    if backend is None:
        if _on_event_loop(worker):
            return None  # a client cannot be made from the loop it runs on
        backend = Backend(worker._get_client(), None, log_to_driver=False, in_worker=True)
        if os.environ.get(EMBEDDED_WORKER_ENV):  # nested tasks get the driver's CPU cap
            backend.cpu_cap = 1.0
        worker._raycompat_backend = backend
    return backend


def _on_event_loop(worker: Any) -> bool:
    try:
        return bool(worker.loop.asyncio_loop is asyncio.get_running_loop())
    except RuntimeError:
        return False


def in_task_thread() -> bool:
    return runtime.current_key() is not None


@contextmanager
def blocking() -> Iterator[None]:
    """Hand the task's thread slot back to Dask while a task blocks, so nesting never deadlocks."""
    if not in_task_thread():
        yield
        return
    distributed.secede()
    try:
        yield
    finally:
        distributed.rejoin()


# -- functions and arguments -------------------------------------------------------------------


class _Packing(threading.local):
    refs: list[ObjectRef[Any]] | None = None
    backend: Backend | None = None


_packing = _Packing()


def function_blob(fn: Any) -> tuple[str, bytes]:
    """Pickle a user function once; workers cache it by id."""
    blob = cloudpickle.dumps(fn)
    return hashlib.sha1(blob).hexdigest(), blob


def pack_args(
    backend: Backend,
    fn_name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    resolve_top: bool = True,
) -> tuple[bytes, list[Future], list[ObjectRef[Any]]]:
    """Pickle the arguments; return (blob, Dask dependencies, ObjectRefs nested inside).

    Top-level ObjectRefs are replaced by their values: by Dask, as dependencies resolved before
    the task runs (``resolve_top``), or else by the receiver, which ``get()``s them (actors).
    ObjectRefs nested inside other values are pickled as ObjectRefs, as Ray passes them.
    """
    deps: list[Future] = []

    def top(value: Any) -> Any:
        if not isinstance(value, ObjectRef):
            return value
        if value._call is not None and value._call.done():
            error = value._call.exception()
            if error is not None:  # a failed actor call: the receiver re-raises its error
                return runtime.ErrorValue(error)
            call_result(value)
            if value._has_value:  # a small actor result, maybe not yet known to the scheduler
                return value._value
        if value._has_value and value._future is None:  # small and held here: it travels inline
            return value._value
        if value._has_value and value._future.status in LOST:
            materialize(backend, value)  # its worker died: store the held value again
        future = future_if_stored(value)
        if future is None or not resolve_top:  # the receiver will get() it
            return value
        deps.append(future)
        return runtime.Dep(len(deps) - 1)

    packed_args = tuple(top(a) for a in args)
    packed_kwargs = {k: top(v) for k, v in kwargs.items()}
    nested: list[ObjectRef[Any]] = []
    _packing.refs, _packing.backend = nested, backend
    try:
        blob = cloudpickle.dumps((packed_args, packed_kwargs))
    except Exception as exc:
        raise TypeError(_unpicklable_message(fn_name, args, kwargs, exc)) from None
    finally:
        _packing.refs, _packing.backend = None, None
    return blob, deps, nested


def _unpicklable_message(fn_name: str, args: Sequence[Any], kwargs: dict[str, Any], exc: Exception) -> str:
    culprit = "an argument"
    for label, value in [*((f"argument {i}", a) for i, a in enumerate(args)), *((f"argument {k!r}", v) for k, v in kwargs.items())]:
        try:
            cloudpickle.dumps(value)
        except Exception:
            culprit = f"{label} ({type(value).__name__}: {value!r:.80})"
            break
    return (
        f"Could not serialize {culprit} of {fn_name}(): {exc}. Arguments must be picklable; "
        "create locks, sockets and open files inside the task instead."
    )


def reduce_ref(ref: ObjectRef[Any]) -> tuple[Any, tuple[Any, ...]]:
    """Pickle an ObjectRef as its key, making sure its value is in the cluster first."""
    backend = _packing.backend
    if _packing.refs is not None:
        _packing.refs.append(ref)
    if ref._call is not None:
        # An actor result: small ones and errors came back in the reply only, so they are
        # stored in the cluster now that the ref leaves this process.
        concurrent.futures.wait([ref._call])
        error = ref._call.exception()
        if error is not None and ref._future is None:
            store_error(backend or _backend_for_pickling(), ref, error)
        elif error is None:
            call_result(ref)
            if ref._future is None:
                materialize(backend or _backend_for_pickling(), ref)
    elif ref._has_value and ref._future is None:
        materialize(backend or _backend_for_pickling(), ref)
    if ref._future is not None and runtime._worker is not None:
        runtime.keep_alive(ref._future)
        if _packing.refs is None and not _on_event_loop(runtime._worker):
            wait_until_known(ref._future)  # it leaves in a result or a put: another client will want it
    return rebuild_ref, (ref._future.key if ref._future is not None else ref._key,)


def wait_until_known(future: Future) -> None:
    """Wait until the scheduler knows a key this process has just submitted.

    A task that returns a fresh ObjectRef sends its result and the submission over different
    connections; without this wait the driver could ask for the key before the scheduler has it,
    and Dask would ignore the request.
    """
    if future.status != "pending":
        return  # the scheduler has reported on it, so it knows it
    client, key = future.client, future.key

    async def known() -> None:
        while (await client.scheduler.get_task_status(keys=[key])).get(key) is None:
            await asyncio.sleep(0.005)

    client.sync(known)


def _backend_for_pickling() -> Backend:
    from .. import _session

    return _session.current().backend


def rebuild_ref(key: str) -> ObjectRef[Any]:
    """Unpickle an ObjectRef in any process: bind it to this process's client."""
    ref: ObjectRef[Any] = ObjectRef(key)
    client = _client_if_ready()
    if client is not None:
        bind(ref, client)
    return ref


def _client_if_ready() -> Client | None:
    from .. import _session

    session = _session.current_or_none()
    if session is not None:
        return session.backend.client
    return None


def bind(ref: ObjectRef[Any], client: Client) -> None:
    """Give an unpickled ref a Dask future and tell the scheduler we want the key kept.

    The registry waits until the scheduler knows the key: the task making it may still be on
    its way from another process. Nothing here blocks, so it is safe on the event loop.
    """
    ref._future = Future(ref._key, client)
    client.loop.add_callback(
        client.scheduler.raycompat_actor, action="desire", keys=[ref._key], client=client.id
    )


def future_if_stored(ref: ObjectRef[Any]) -> Future | None:
    """The ref's Dask future, binding a freshly unpickled ref; None for an actor call in flight."""
    if ref._call is not None and not ref._call.done():
        return None
    if ref._future is None and not ref._has_value:
        bind(ref, _backend_for_pickling().client)
    return ref._future


def store_error(backend: Backend, ref: ObjectRef[Any], error: BaseException) -> None:
    """Store a failed call's error under its key, so that every reader of the key sees it."""
    ref._future = backend.client.scatter({ref._key: runtime.ErrorValue(error)}, hash=False)[ref._key]


def materialize(backend: Backend, ref: ObjectRef[Any]) -> None:
    """Store a driver-held value in the cluster, so that other processes can read it.

    A value stored before whose worker died goes in again under a fresh key.
    """
    key = ref._key if ref._future is None else new_key("put")
    store = backend.cluster.object_store_address() if backend.cluster is not None else None
    ref._future = _store(backend, key, runtime.loaded(ref._value), [store] if store else [])


def _store(backend: Backend, key: str, value: Any, addresses: list[str]) -> Future:
    """Put ``value`` in the cluster under ``key``: at ``addresses`` (the embedded cluster's
    object store first), or else on a worker, as Dask's scatter does."""
    if addresses:
        return object_store.put(backend.client, addresses, key, value)
    return backend.client.scatter({key: value}, hash=False)[key]


# -- tasks -------------------------------------------------------------------------------------


def new_key(name: str) -> str:
    """A Dask key named after the user's code, so the dashboard reads like the script."""
    return f"{name}-{uuid.uuid4().hex}"


def task_resources(backend: Backend, num_cpus: float, num_gpus: float, resources: dict[str, float], memory: float) -> dict[str, float] | None:
    """Map Ray's resource request to Dask's, or None when a plain thread slot is enough.

    On the embedded cluster a task holds at most one CPU (one worker thread), and ``memory``
    is not a resource: its workers have no memory limit, as a Ray node has all its memory.
    """
    num_cpus = 1.0 if num_cpus is None else num_cpus  # None: the default, as in Ray
    cpus = num_cpus if backend.cpu_cap is None else min(num_cpus, backend.cpu_cap)
    memory = memory if backend.cpu_cap is None else 0
    wanted = {"CPU": cpus, "GPU": num_gpus, "memory": memory, **resources}
    wanted = {k: float(v) for k, v in wanted.items() if v}
    if set(wanted) <= {"CPU"} and wanted.get("CPU", 1.0) == 1.0:
        return None  # one CPU: the worker's thread slot already gives Ray's accounting
    return wanted


def submit_task(
    backend: Backend,
    spec: runtime.TaskSpec,
    deps: list[Future],
    keepalive: list[ObjectRef[Any]],
    *,
    resources: dict[str, float] | None,
    num_returns: int,
    workers: list[str] | None = None,
    allow_other_workers: bool = False,
) -> list[ObjectRef[Any]]:
    """Submit one task; return its ``num_returns`` ObjectRefs at once.

    ``workers`` (hosts or addresses) restricts where it runs: node affinity, placement groups.
    """
    client = backend.client
    key = new_key(spec.name)
    future = client.submit(
        runtime.run_task,
        cloudpickle.dumps(spec),
        *deps,
        key=key,
        pure=False,
        resources=resources,
        workers=workers,
        allow_other_workers=allow_other_workers,
    )
    if num_returns == 1:
        futures = [future]
    else:
        futures = [
            client.submit(runtime.getitem, future, i, key=f"{key}-{i}", pure=False)
            for i in range(num_returns)
        ]
    refs = [ObjectRef(f.key, f) for f in futures]
    if resources:  # warn if no worker can ever give them
        nodes.watch_pending(client, future, spec.name, resources)
    if keepalive:  # nested refs live at least as long as the task that borrows them
        holder = list(keepalive)
        future.add_done_callback(lambda _f, holder=holder: holder.clear())
    return refs


# -- put, get, wait, cancel --------------------------------------------------------------------


def put(backend: Backend, value: Any) -> ObjectRef[Any]:
    """Store a snapshot of ``value``: later changes to ``value`` do not show, as in Ray.

    Small values stay in the driver, pickled, and travel inside the tasks that use them: no
    scheduler round trip. Large ones go at once to the embedded cluster's object store (a
    process that runs no task, so no task crash loses them), or to a worker of other clusters.
    """
    if not backend.in_worker and sizeof(value) <= INLINE_LIMIT:
        try:
            blob = cloudpickle.dumps(value, protocol=5)
        except Exception as exc:
            raise TypeError(_put_message(value, exc)) from None
        ref: ObjectRef[Any] = ObjectRef(new_key("put"))
        ref._value, ref._has_value = runtime.Pickled(blob), True
        return ref
    key = new_key("put")
    addresses = backend.cluster.put_addresses() if backend.cluster is not None else []
    try:
        future = _store(backend, key, value, addresses)
    except OSError as exc:  # the connection, not the value
        raise exceptions.RaySystemError(f"Could not store the object passed to ray.put(): {exc!r}") from None
    except Exception as exc:
        raise TypeError(_put_message(value, exc)) from None
    return ObjectRef(key, future)


def _put_message(value: Any, exc: Exception) -> str:
    return (
        f"Could not serialize the object passed to ray.put() ({type(value).__name__}): {exc}. "
        "Only picklable objects can be stored; create locks, sockets and open files where they are used."
    )


def call_result(ref: ObjectRef[Any]) -> None:
    """Take the outcome of a finished actor call into the ref."""
    assert ref._call is not None
    outcome = ref._call.result()  # raises the call's error
    if outcome.has_value and not ref._has_value:
        ref._value, ref._has_value = outcome.value, True
    elif not outcome.has_value and ref._future is None:
        bind(ref, _backend_for_pickling().client)  # a large result, stored on the actor's host


def get(backend: Backend, refs: list[ObjectRef[Any]], timeout: float | None) -> list[Any]:
    """Fetch the values of ``refs`` in order, in one round for those in the cluster."""
    deadline = None if timeout is None else time.monotonic() + timeout
    check_session(backend, refs)
    ensure_connected(backend)
    with blocking():
        calls = [r._call for r in refs if r._call is not None and not r._call.done()]
        if calls:
            done, not_done = concurrent.futures.wait(calls, timeout=_remaining(deadline))
            if not_done:
                raise _timeout_error(timeout, len(refs), len(not_done))
        for ref in refs:
            if ref._call is not None:
                call_result(ref)
        futures = {}
        for ref in refs:
            if not ref._has_value:
                future = future_if_stored(ref)
                assert future is not None
                futures[ref._key] = future
        if futures:
            values = _gather(backend, refs, futures, deadline, timeout)
    out = []
    for ref in refs:
        value = runtime.loaded(ref._value) if ref._has_value else values[ref._key]
        if isinstance(value, runtime.ErrorValue):
            raise value.error
        out.append(value)
    return out


def _gather(
    backend: Backend,
    refs: list[ObjectRef[Any]],
    futures: dict[str, Future],
    deadline: float | None,
    timeout: float | None,
) -> dict[str, Any]:
    """Wait for and fetch ``futures`` in one round trip; raise the first failure in ``refs`` order."""
    client = backend.client
    if deadline is not None:  # wait here, where a timeout costs nothing, then fetch
        pending = [ref for ref in refs if ref._key in futures and not futures[ref._key].done()]
        while pending:
            seen = _completions.count
            if any(f.status in ("error", "cancelled") for f in futures.values()):
                break  # a failure is raised at once, without waiting for the others
            pending = [ref for ref in pending if not futures[ref._key].done()]
            remaining = _remaining(deadline)
            if pending and remaining == 0:
                raise _timeout_error(timeout, len(refs), len(pending))
            _completions.watch(pending)
            if pending:
                _completions.wait_for_change(seen, remaining)
    try:
        fetched = client.sync(client._gather, list(futures.values()))
    except BaseException as exc:
        for ref in refs:  # Ray raises the error of the first failed ref in the list
            future = futures.get(ref._key)
            if future is not None and future.status in ("error", "cancelled", "lost"):
                raise task_failure(future, backend) from None
        raise _as_ray_error(exc) from None
    return dict(zip(futures, fetched))


def check_session(backend: Backend, refs: list[ObjectRef[Any]]) -> None:
    """Refuse refs of an earlier session, as Ray does after shutdown() and a new init()."""
    current = backend.client
    try:  # the quick check first: wait() is called in loops over long lists
        if {ref._future._client for ref in refs} == {current}:
            return
    except AttributeError:  # a ref without a future (a small put value)
        pass
    for ref in refs:
        future = ref._future
        if future is None or future._client is current:
            continue
        client = future._client
        if client is not None and client.status in ("closing", "closed"):
            raise ValueError(
                "You are trying to access Ray objects whose owner is unknown. Please make sure "
                "that all Ray objects you are trying to access are part of the current Ray "
                f"session: {ref!r} was made before ray.shutdown()."
            )


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _timeout_error(timeout: float | None, total: int, waiting: int) -> exceptions.GetTimeoutError:
    return exceptions.GetTimeoutError(
        f"Get timed out: some object(s) not ready. {waiting} of {total} ObjectRefs were not ready "
        f"after {timeout} s; pass a larger timeout, or use ray.wait() to take the ready ones."
    )


def ensure_connected(backend: Backend) -> None:
    """Raise ConnectionError at once when the scheduler is gone, rather than wait on it."""
    status = backend.client.status
    if status not in ("running", "newly-created"):
        raise lost_scheduler(backend)


def lost_scheduler(backend: Backend) -> ConnectionError:
    return ConnectionError(
        f"Lost the connection to the Dask scheduler at {backend.address}: the cluster stopped or "
        "cannot be reached. Start it again, then call ray.shutdown() and ray.init() to reconnect."
    )


def task_failure(future: Future, backend: Backend | None = None) -> BaseException:
    """The Ray exception for a Dask future that did not finish."""
    if future.status == "cancelled":
        reason = getattr(future._state.exception, "reason", "")
        if reason == "scheduler-connection-lost" and backend is not None:
            return lost_scheduler(backend)
        return exceptions.TaskCancelledError(str(future.key))
    if future.status == "lost":
        return exceptions.ObjectLostError(str(future.key))
    try:
        exc = future.exception(timeout=5)
    except Exception as err:  # cancelled or lost while we looked
        return _system_error(err)
    return _as_ray_error(exc)


def _as_ray_error(exc: BaseException | None) -> BaseException:
    if isinstance(exc, exceptions.RayError):
        return exc
    if isinstance(exc, distributed.client.FutureCancelledError) or type(exc).__name__ == "CancelledError":
        return exceptions.TaskCancelledError()
    if type(exc).__name__ == "KilledWorker":
        return exceptions.WorkerCrashedError(
            f"The worker running this task died too often ({exc}). Check the worker logs; "
            "raise max_retries to retry more."
        )
    return _system_error(exc)


def _system_error(exc: BaseException | None) -> BaseException:
    if isinstance(exc, exceptions.RayError):
        return exc
    if isinstance(exc, distributed.client.FutureCancelledError):
        return exceptions.TaskCancelledError()
    return exceptions.RaySystemError(f"Dask could not run or fetch the task: {exc!r}")


def is_ready(ref: ObjectRef[Any]) -> bool:
    """Whether the ref's value (or error) is there, from this process's own knowledge."""
    if ref._has_value:
        return True
    if ref._call is not None:
        return ref._call.done()
    future = future_if_stored(ref)
    return future is not None and future.done()


class _Completions:
    """Wakes ``wait()`` when any watched future or actor call finishes.

    Each ref is watched once, with one done-callback, however often it is waited on: draining
    n refs with ``wait(num_returns=1)`` costs O(n) callbacks, not O(n) per call. A waiter
    looks at its refs again only when one of them is among those that finished.
    """

    RECENT = 4096

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tracking: set[asyncio.Task[None]] = set()
        self._recent: collections.deque[int] = collections.deque(maxlen=self.RECENT)  # ids of finished refs
        self.count = 0

    def watch(self, refs: Iterable[ObjectRef[Any]]) -> None:
        """Wake waiters when any of ``refs`` finishes; again after a finished future was reset.

        Dask resets a finished future to pending when its data is lost with a worker and the
        task must run again: its first wake-up has fired, so it is armed once more. A Dask
        future is watched by a coroutine on the client's event loop, as ``as_completed`` does,
        not by ``add_done_callback``, which adds a hop through Dask's callback thread.
        """
        by_loop: dict[Any, list[ObjectRef[Any]]] = {}
        for ref in refs:
            if ref._watched:
                continue
            ref._watched = True
            if ref._call is not None and not ref._call.done():
                ref._call.add_done_callback(functools.partial(self._done, ref))
            elif ref._future is not None:
                by_loop.setdefault(ref._future.client.loop, []).append(ref)
        for loop, futures in by_loop.items():
            loop.add_callback(self._track, futures)

    async def _track(self, refs: list[ObjectRef[Any]]) -> None:
        for ref in refs:
            task = asyncio.ensure_future(self._when_done(ref))
            self._tracking.add(task)  # asyncio keeps only a weak reference to a task
            task.add_done_callback(self._tracking.discard)

    async def _when_done(self, ref: ObjectRef[Any]) -> None:
        future = ref._future
        if future is not None:
            await future._state.wait()
        self._done(ref)

    def _done(self, ref: ObjectRef[Any], _future: Any = None) -> None:
        ref._watched = False
        with self._cond:
            self.count += 1
            self._recent.append(id(ref))
            self._cond.notify_all()

    def wait_for_change(self, seen: int, timeout: float | None) -> tuple[int, list[int] | None]:
        """Block until the count passes ``seen`` (or ``timeout``).

        Return the new count and the ids of the refs finished since ``seen``, or None in place
        of the ids when there were more than the last ``RECENT`` kept.
        """
        with self._cond:
            self._cond.wait_for(lambda: self.count != seen, timeout)
            new = self.count - seen
            finished = list(itertools.islice(reversed(self._recent), new)) if new <= len(self._recent) else None
            return self.count, finished


_completions = _Completions()


def wait(
    backend: Backend, refs: list[ObjectRef[Any]], num_returns: int, timeout: float | None
) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
    """Return (ready, not_ready) once ``num_returns`` refs are ready or ``timeout`` passes."""
    deadline = None if timeout is None else time.monotonic() + timeout
    check_session(backend, refs)
    with blocking():
        seen = _completions.count  # read first: a completion after this wakes us below
        ready = _first_ready(refs, num_returns)
        mine: set[int] = set()
        scanned = True
        while len(ready) < num_returns and (remaining := _remaining(deadline)) != 0:
            ensure_connected(backend)
            if scanned:  # watch the refs not ready (again: a finished future can be reset)
                ready_ids = {id(r) for r in ready}  # all of them: the scan went to the end
                _completions.watch(ref for ref in refs if id(ref) not in ready_ids)
                mine = mine or set(map(id, refs))
            seen, finished = _completions.wait_for_change(seen, remaining)
            scanned = finished is None or not mine.isdisjoint(finished)
            if scanned:
                ready = _first_ready(refs, num_returns)
    if len(ready) == 1:
        i = refs.index(ready[0])  # identity first, so this is quick: the first ready ref is near the front
        return ready, refs[:i] + refs[i + 1 :]
    taken = {id(r) for r in ready}
    return ready, [r for r in refs if id(r) not in taken]


def _first_ready(refs: list[ObjectRef[Any]], num_returns: int) -> list[ObjectRef[Any]]:
    """The first ``num_returns`` ready refs, in the order given.

    The scan stops there: draining finished refs with ``wait(num_returns=1)`` then costs O(1)
    a call instead of a look at every ref (docs/performance.md has the figures).
    """
    ready = []
    for ref in refs:
        future = ref._future
        if ref._has_value or (future.done() if future is not None and ref._call is None else is_ready(ref)):
            ready.append(ref)
            if len(ready) == num_returns:
                break
    return ready


def cancel(backend: Backend, ref: ObjectRef[Any], force: bool) -> None:
    """Cancel the task behind ``ref``: drop it if queued, interrupt (or kill) it if running."""
    future = ref._future
    if future is None or future.done():
        return  # a finished task or a put value stays readable, as in Ray
    key = str(future.key).rsplit("-", 1)[0] if _is_getitem_key(future.key) else future.key
    # Cancel first, so that the scheduler does not run the task again when force kills its worker.
    backend.client.cancel([future], reason="ray.cancel")
    backend.client.run(runtime.interrupt, [key], force, on_error="ignore")


def _is_getitem_key(key: Any) -> bool:
    parts = str(key).rsplit("-", 1)
    return len(parts) == 2 and parts[1].isdigit() and len(parts[0]) > 33

