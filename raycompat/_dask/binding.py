"""The state behind an ObjectRef: binding it to a Dask future, and storing a value held here.

These functions read and write the slots of the ref record (``refs.ObjectRef``); every module
that needs a ref's future or value goes through them.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from distributed import Future

from . import backend as backends
from . import object_store
from .backend import Backend
from .protocol import ErrorValue, loaded
from .shared_memory import Shared

if TYPE_CHECKING:
    from .refs import ObjectRef

LOST = ("lost", "cancelled")  # statuses of a future whose data is gone


def new_key(name: str) -> str:
    """A Dask key named after the user's code, so the dashboard reads like the script."""
    return f"{name}-{uuid.uuid4().hex}"


def bind(ref: ObjectRef[Any], backend: Backend) -> None:
    """Give an unpickled ref a Dask future and tell the scheduler we want the key kept.

    The scheduler waits until it knows the key: the task making it may still be on its way
    from another process. Nothing here blocks, so it is safe on the event loop.
    """
    client = backend.client
    ref._future = Future(ref._key, client)
    client.loop.add_callback(client.scheduler.raycompat_keys_desire, keys=[ref._key], client=client.id)


def future_if_stored(ref: ObjectRef[Any]) -> Future | None:
    """The ref's Dask future, binding a freshly unpickled ref; None for an actor call in flight."""
    if ref._call is not None and not ref._call.done():
        return None
    if ref._future is None and not ref._has_value:
        bind(ref, backends.current())
    return ref._future


def call_result(ref: ObjectRef[Any]) -> None:
    """Take the outcome of a finished actor call into the ref; raise the call's error."""
    assert ref._call is not None
    outcome = ref._call.result()
    if outcome.has_value and not ref._has_value:
        ref._value, ref._has_value = outcome.value, True
    elif not outcome.has_value and ref._future is None:
        bind(ref, backends.current())  # a large result, stored on the actor's host


def store_error(backend: Backend, ref: ObjectRef[Any], error: BaseException) -> None:
    """Store a failed call's error under its key, so that every reader of the key sees it."""
    ref._future = backend.client.scatter({ref._key: ErrorValue(error)}, hash=False)[ref._key]


def materialize(backend: Backend, ref: ObjectRef[Any]) -> None:
    """Store a value held here in the cluster, so that other processes can read it.

    A value stored before whose worker died goes in again under a fresh key.
    """
    key = ref._key if ref._future is None else new_key("put")
    store = backend.cluster.object_store_address() if backend.cluster is not None else None
    value = ref._value if isinstance(ref._value, Shared) else loaded(ref._value)  # a record goes as it is
    ref._future = object_store.store(backend.client, key, value, [store] if store else [])


def is_ready(ref: ObjectRef[Any]) -> bool:
    """Whether the ref's value (or error) is there, from this process's own knowledge."""
    if ref._has_value:
        return True
    if ref._call is not None:
        return ref._call.done()
    future = future_if_stored(ref)
    return future is not None and future.done()


