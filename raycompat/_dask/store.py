"""``put``: store a value the caller hands over, as Ray's object store does."""

from __future__ import annotations

from typing import Any

import cloudpickle
from dask.sizeof import sizeof

from .. import exceptions
from . import interrupts, object_store
from .backend import Backend
from .binding import new_key
from .protocol import Pickled
from .refs import ObjectRef

# Values put by the driver up to this size stay in the driver and travel inside the tasks that
# use them, as Ray inlines small objects: no scheduler round trip at put() time.
INLINE_LIMIT = 100 * 1024


@interrupts.held
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
        ref._value, ref._has_value = Pickled(blob), True
        return ref
    key = new_key("put")
    addresses = backend.cluster.put_addresses() if backend.cluster is not None else []
    try:
        future = object_store.store(backend.client, key, value, addresses)
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
