"""put / get / wait / cancel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, overload

from . import _session
from ._dask import driver
from ._object_ref import ObjectRef

T = TypeVar("T")


def put(value: Any, *, _owner: Any = None) -> ObjectRef[Any]:
    """Store ``value`` in the cluster and return an ObjectRef to it.

    Args:
        value: Any picklable object. A list or dict is stored as one object.

    Returns:
        An ObjectRef that ``get()`` reads and tasks take as an argument.

    Raises:
        TypeError: If ``value`` is an ObjectRef, or cannot be pickled.

    Dask note: values up to 100 KiB stay in the driver and travel inside the tasks that use
    them (Ray inlines small objects too); larger ones are scattered to a worker at once.
    """
    if isinstance(value, ObjectRef):
        raise TypeError(
            "Calling 'put' on an ray.ObjectRef is not allowed. If you really want to do this, "
            "you can wrap the ray.ObjectRef in a list and call 'put' on it."
        )
    return driver.put(_session.current().backend, value)


@overload
def get(object_refs: ObjectRef[T], *, timeout: float | None = None) -> T: ...


@overload
def get(object_refs: Sequence[ObjectRef[T]], *, timeout: float | None = None) -> list[T]: ...


def get(object_refs: Any, *, timeout: float | None = None) -> Any:
    """Block until the values of ``object_refs`` are ready and return them.

    Args:
        object_refs: One ObjectRef, or a list of them, from ``.remote()`` or ``put()``.
        timeout: Seconds to wait at most; ``None`` waits forever.

    Returns:
        The value, or a list of values in the order of ``object_refs``.

    Raises:
        GetTimeoutError: If ``timeout`` passes first (it is also a TimeoutError).
        RayTaskError: If the task raised; it is also an instance of the task's error class.
        TaskCancelledError: If the task was cancelled.
        ValueError: If ``object_refs`` is not an ObjectRef or a list of them.

    Dask note: values are copied to the caller; there is no zero-copy shared-memory store.
    """
    single = isinstance(object_refs, ObjectRef)
    if single:
        refs = [object_refs]
    elif isinstance(object_refs, (list, tuple)):
        refs = list(object_refs)
        for i, ref in enumerate(refs):
            if not isinstance(ref, ObjectRef):
                raise TypeError(
                    f"Attempting to call `get` on the value {ref!r} (item {i} of the list), which "
                    "is not an ray.ObjectRef. Pass only ObjectRefs from .remote() or ray.put()."
                )
    else:
        raise ValueError(
            f"'object_refs' must either be an ObjectRef or a list of ObjectRefs, got {object_refs!r}. "
            "Pass the ObjectRef(s) that .remote() or ray.put() returned."
        )
    _check_timeout(timeout)
    values = driver.get(_session.current().backend, refs, timeout) if refs else []
    return values[0] if single else values


def _check_timeout(timeout: Any) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
        raise ValueError(f"'timeout' must be None or a non-negative number of seconds, got {timeout!r}.")


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

    Raises:
        TypeError: If ``object_refs`` is not a list of ObjectRefs.
        ValueError: If it holds duplicates or ``num_returns`` is out of range.

    Dask note: readiness comes from this client's own knowledge of finished futures; no
    scheduler round trip per call.
    """
    if isinstance(object_refs, ObjectRef) or not isinstance(object_refs, (list, tuple)):
        raise TypeError(
            f"wait() expected a list of ray.ObjectRef, got {type(object_refs).__name__}. "
            "Wrap a single ref in a list: ray.wait([ref])."
        )
    for i, ref in enumerate(object_refs):
        if not isinstance(ref, ObjectRef):
            raise TypeError(
                f"wait() expected a list of ray.ObjectRef, got list containing {type(ref)} at "
                f"index {i}. Pass only ObjectRefs."
            )
    refs = list(object_refs)
    if len(set(refs)) != len(refs):
        raise ValueError("Wait requires a list of unique object refs. Remove the duplicates first.")
    if isinstance(num_returns, bool) or not isinstance(num_returns, int) or num_returns <= 0:
        raise ValueError(
            f"Invalid number of objects to return {num_returns}. Pass num_returns >= 1."
            if refs or num_returns != 0
            else "Invalid number of objects to return 0."
        )
    if num_returns > len(refs):
        raise ValueError(
            f"num_returns cannot be greater than the number of objects provided to ray.wait "
            f"({num_returns} > {len(refs)})."
        )
    _check_timeout(timeout)
    return driver.wait(_session.current().backend, refs, num_returns, timeout)


def cancel(object_ref: ObjectRef[Any], *, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task that makes ``object_ref``.

    A queued task never runs. A running one is interrupted (KeyboardInterrupt in its thread), or,
    with ``force=True``, its worker process is killed. ``get()`` then raises TaskCancelledError.

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
    driver.cancel(_session.current().backend, object_ref, force)
