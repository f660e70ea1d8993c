"""``put``: store a value the caller hands over, as Ray's object store does."""

from __future__ import annotations

import os
from typing import Any

import cloudpickle
from dask.sizeof import sizeof
from distributed import Future

from .. import exceptions
from . import backend as backends
from . import interrupts, object_store, shared_memory, task_context
from .backend import Backend
from .binding import new_key
from .protocol import Pickled
from .refs import ObjectRef
from .worker import host_worker

# Values put by the driver up to this size stay in the driver and travel inside the tasks that
# use them, as Ray inlines small objects: no scheduler round trip at put() time.
INLINE_LIMIT = 100 * 1024


@interrupts.held
def put(backend: Backend, value: Any) -> ObjectRef[Any]:
    """Store a snapshot of ``value``: later changes to ``value`` do not show, as in Ray.

    Small values stay in the driver, pickled, and travel inside the tasks that use them: no
    scheduler round trip. Large ones put by the driver of an embedded cluster are written once
    into shared memory, which every reader maps (shared_memory.py); the cluster's object store
    holds the record of it. Otherwise they go at once to the embedded cluster's object store (a
    process that runs no task, so no task crash loses them), or to a worker of other clusters.
    """
    large = sizeof(value) > INLINE_LIMIT
    if not large and not backend.in_worker:
        try:
            blob = cloudpickle.dumps(value, protocol=5)
        except Exception as exc:
            raise TypeError(_put_message(value, exc)) from None
        ref: ObjectRef[Any] = ObjectRef(new_key("put"))
        ref._value, ref._has_value = Pickled(blob), True
        return ref
    key = new_key("put")
    if large:
        ref = _put_shared(backend, key, value)
        if ref is not None:
            return ref
    addresses = backend.cluster.put_addresses() if backend.cluster is not None else []
    try:
        future = object_store.store(backend.client, key, value, addresses)
    except OSError as exc:  # the connection, not the value
        raise exceptions.RaySystemError(f"Could not store the object passed to ray.put(): {exc!r}") from None
    except Exception as exc:
        raise TypeError(_put_message(value, exc)) from None
    return ObjectRef(key, future)


def _put_shared(backend: Backend, key: str, value: Any) -> ObjectRef[Any] | None:
    """On the embedded cluster, write ``value`` into shared memory and give its record to the
    process that will hold it: the object store for the driver's puts, and for a task's the
    task's own worker, as Ray's worker owns what its task puts. None when shared memory has no
    room for it, or the cluster is not the embedded one."""
    worker = task_context.this_worker()
    if backend.cluster is not None:
        prefix = backend.cluster.shared_prefix
    elif worker is not None and not backends.on_event_loop(worker):
        prefix = os.environ.get(shared_memory.PREFIX_ENV)
    else:
        prefix = None
    if prefix is None:
        return None
    try:
        record = shared_memory.write(value, prefix, key)
    except Exception as exc:
        raise TypeError(_put_message(value, exc)) from None
    if record is None:
        return None
    try:
        if backend.cluster is not None:
            future = object_store.store(backend.client, key, record, [backend.cluster.object_store_address()])
        else:
            future = Future(key, backend.client)  # before the scheduler hears of the key: no report is missed
            backend.client.sync(host_worker.keep, worker, {key: record}, backend.client.id)
    except BaseException as exc:
        shared_memory.remove(record)
        if isinstance(exc, OSError):
            raise exceptions.RaySystemError(f"Could not store the object passed to ray.put(): {exc!r}") from None
        raise
    ref: ObjectRef[Any] = ObjectRef(key, future)
    ref._value, ref._has_value = record, True  # read here by mapping the file: no round trip
    return ref


def _put_message(value: Any, exc: Exception) -> str:
    return (
        f"Could not serialize the object passed to ray.put() ({type(value).__name__}): {exc}. "
        "Only picklable objects can be stored; create locks, sockets and open files where they are used."
    )
