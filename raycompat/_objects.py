"""put / get / wait / cancel, and the ref types they take (re-exported from the backend)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, overload

from . import _session
from ._dask import fetch, store, tasks, waiting
from ._dask.refs import DynamicObjectRefGenerator as DynamicObjectRefGenerator
from ._dask.refs import ObjectRef as ObjectRef
from ._dask.streams import ObjectRefGenerator as ObjectRefGenerator

T = TypeVar("T")


def put(value: Any, *, _owner: Any = None) -> ObjectRef[Any]:
    """Store ``value`` in the cluster and return an ObjectRef to it.

    Args:
        value: Any picklable object. A list or dict is stored as one object.

    Returns:
        An ObjectRef that ``get()`` reads and tasks take as an argument.

    Raises:
        TypeError: If ``value`` is an ObjectRef, or cannot be pickled.

    Dask note: ``put`` stores a snapshot, as Ray does. Values up to 100 KiB stay in the driver,
    pickled, and travel inside the tasks that use them (Ray inlines small objects too); larger
    ones go at once to the embedded cluster's object store (a process that runs no task), or to
    a worker of other clusters.
    """
    if isinstance(value, ObjectRef):
        raise TypeError(
            "Calling 'put' on an ray.ObjectRef is not allowed. If you really want to do this, "
            "you can wrap the ray.ObjectRef in a list and call 'put' on it."
        )
    return store.put(_session.current(), value)


@overload
def get(object_refs: ObjectRef[T], *, timeout: float | None = None) -> T: ...


@overload
def get(object_refs: Sequence[ObjectRef[T]], *, timeout: float | None = None) -> list[T]: ...


def get(object_refs: Any, *, timeout: float | None = None) -> Any:
    """Block until the values of ``object_refs`` are ready and return them.

    Args:
        object_refs: One ObjectRef, or a list of them, from ``.remote()`` or ``put()``.
        timeout: Seconds to wait at most; ``None`` (or, as in Ray, a negative number) waits forever.

    Returns:
        The value, or a list of values in the order of ``object_refs``.

    Raises:
        GetTimeoutError: If ``timeout`` passes first (it is also a TimeoutError).
        RayTaskError: If the task raised; it is also an instance of the task's error class.
        TaskCancelledError: If the task was cancelled.
        ValueError: If ``object_refs`` is not an ObjectRef or a list (a tuple is refused, as in Ray).
        TypeError: If the list holds something that is not an ObjectRef.

    A large ``put()`` object is mapped from shared memory, as in Ray: no copy, and numpy arrays
    arrive read-only. Task results are copied to the caller (Dask moves them).
    """
    single = isinstance(object_refs, ObjectRef)
    if single:
        refs = [object_refs]
    elif isinstance(object_refs, list):
        refs = list(object_refs)
        for i, ref in enumerate(refs):
            if not isinstance(ref, ObjectRef):
                raise TypeError(
                    f"Attempting to call `get` on the value {ref!r}, which is not an ray.ObjectRef. "
                    f"Item {i} of the list is not one; pass only ObjectRefs from .remote() or ray.put()."
                )
    else:
        raise ValueError(
            f"Invalid type of object refs, {type(object_refs)}, is given. 'object_refs' must either "
            "be an ObjectRef or a list of ObjectRefs. Pass what .remote() or ray.put() returned"
            + (", in a list: ray.get(list(refs))." if isinstance(object_refs, tuple) else ".")
        )
    if timeout is not None and _check_timeout(timeout) < 0:
        timeout = None  # Ray waits forever for a negative timeout
    values = fetch.get(_session.current(), refs, timeout) if refs else []
    return values[0] if single else values


def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"'timeout' must be None or a number of seconds, got {timeout!r}.")
    return float(timeout)


def wait(
    object_refs: list[ObjectRef[Any]],
    *,
    num_returns: int = 1,
    timeout: float | None = None,
    fetch_local: bool = True,
) -> tuple[list[ObjectRef[Any]], list[ObjectRef[Any]]]:
    """Wait until ``num_returns`` of ``object_refs`` are ready, or ``timeout`` passes.

    Args:
        object_refs: A list of distinct ObjectRefs.
        num_returns: How many ready refs to wait for.
        timeout: Seconds to wait at most; ``None`` waits forever.
        fetch_local: Accepted for compatibility.

    Returns:
        ``(ready, not_ready)``: at most ``num_returns`` ready refs, and the rest, each in input order.
        An empty list gives ``([], [])``.

    Raises:
        TypeError: If ``object_refs`` is not a list of ObjectRefs (a tuple is refused, as in Ray).
        ValueError: If it holds duplicates, ``num_returns`` is out of range or ``timeout`` is negative.

    Dask note: readiness comes from this client's own knowledge of finished futures; no
    scheduler round trip per call.
    """
    refs = _check_waitables(object_refs)
    if timeout is not None and _check_timeout(timeout) < 0:
        raise ValueError(
            f"The 'timeout' argument must be nonnegative. Received {timeout}. Pass timeout=None to "
            "wait without a limit."
        )
    if not refs:
        return [], []
    if isinstance(num_returns, bool) or not isinstance(num_returns, int) or num_returns <= 0:
        raise ValueError(f"Invalid number of objects to return {num_returns}. Pass num_returns >= 1.")
    if num_returns > len(refs):
        raise ValueError(
            "num_returns cannot be greater than the number of ray_waitables provided to ray.wait. "
            f"Got num_returns={num_returns} for {len(refs)} ObjectRefs."
        )
    return waiting.wait(_session.current(), refs, num_returns, timeout)  # type: ignore[return-value]


def _check_waitables(object_refs: Any) -> list[Any]:
    """A copy of ``object_refs``, checked as Ray checks the list given to ``wait()``."""
    expected = "wait() expected a list of ray.ObjectRef or ray.ObjectRefGenerator"
    if isinstance(object_refs, (ObjectRef, ObjectRefGenerator)):
        raise TypeError(
            f"{expected}, got a single ray.ObjectRef or ray.ObjectRefGenerator {object_refs!r}. "
            "Wrap it in a list: ray.wait([ref])."
        )
    if not isinstance(object_refs, list):
        raise TypeError(f"{expected}, got {type(object_refs)}. Pass a list: ray.wait(list(refs)).")
    generators = False
    # wait() is called in loops over long lists: the checks run at C speed when all are ObjectRefs.
    for ref in () if set(map(type, object_refs)) <= {ObjectRef} else object_refs:
        if isinstance(ref, ObjectRefGenerator):
            generators = True
        elif not isinstance(ref, ObjectRef):
            raise TypeError(
                f"{expected}, got list containing {type(ref)}. Pass only ObjectRefs from .remote() "
                "or ray.put()."
            )
    if len(set(object_refs) if generators else {ref._key for ref in object_refs}) != len(object_refs):
        raise ValueError(
            "Wait requires a list of unique ray_waitables. Remove the duplicates first, for "
            "example with list(dict.fromkeys(refs))."
        )
    return list(object_refs)


def cancel(object_ref: ObjectRef[Any], *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task that makes ``object_ref``.

    A queued task never runs. A running one is interrupted (KeyboardInterrupt in its thread), or,
    with ``force=True``, its worker process is killed. ``get()`` then raises TaskCancelledError.
    Cancelling a finished task, or a ``put()`` value, does nothing.

    Raises:
        TypeError: If ``object_ref`` is not an ObjectRef.

    Dask note: ``recursive`` is accepted; tasks the cancelled task submitted keep running.
    """
    if not isinstance(object_ref, ObjectRef):
        raise TypeError(
            f"ray.cancel() only supported for object refs. For actors, try ray.kill(). Got: {type(object_ref)}."
        )
    if object_ref._call is not None:
        raise TypeError(
            "ray.cancel() of an actor method call is not supported by raycompat. Use ray.kill(actor) "
            "to stop the actor."
        )
    tasks.cancel(_session.current(), object_ref, force)
