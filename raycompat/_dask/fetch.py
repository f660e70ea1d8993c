"""``get``: fetch the values of refs, and Ray's exception for each way that can fail."""

from __future__ import annotations

import concurrent.futures
import time
from typing import TYPE_CHECKING, Any

from distributed import Future

from . import dask_private, errors
from .backend import Backend, blocking
from .binding import call_result, future_if_stored
from .completions import completions, remaining
from .protocol import ErrorValue, loaded

if TYPE_CHECKING:
    from .refs import ObjectRef



def get(backend: Backend, refs: list[ObjectRef[Any]], timeout: float | None) -> list[Any]:
    """Fetch the values of ``refs`` in order, in one round for those in the cluster."""
    deadline = None if timeout is None else time.monotonic() + timeout
    check_session(backend, refs)
    errors.ensure_connected(backend)
    with blocking():
        calls = [r._call for r in refs if r._call is not None and not r._call.done()]
        if calls:
            _, not_done = concurrent.futures.wait(calls, timeout=remaining(deadline))
            if not_done:
                raise errors.timeout_error(timeout, len(refs), len(not_done))
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
        value = loaded(ref._value) if ref._has_value else values[ref._key]
        if isinstance(value, ErrorValue):
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
            seen = completions.count
            if any(f.status in ("error", "cancelled") for f in futures.values()):
                break  # a failure is raised at once, without waiting for the others
            pending = [ref for ref in pending if not futures[ref._key].done()]
            left = remaining(deadline)
            if pending and left == 0:
                raise errors.timeout_error(timeout, len(refs), len(pending))
            completions.watch(pending)
            if pending:
                completions.wait_for_change(seen, left)
    try:
        fetched = dask_private.gather(client, list(futures.values()))
    except BaseException as exc:
        for ref in refs:  # Ray raises the error of the first failed ref in the list
            future = futures.get(ref._key)
            if future is not None and future.status in ("error", "cancelled", "lost"):
                raise errors.task_failure(future, backend) from None
        raise errors.as_ray_error(exc) from None
    return dict(zip(futures, fetched))


def check_session(backend: Backend, refs: list[ObjectRef[Any]]) -> None:
    """Refuse refs of an earlier session, as Ray does after shutdown() and a new init()."""
    current = backend.client
    try:  # the quick check first: wait() is called in loops over long lists
        if {ref._future.client for ref in refs} == {current}:
            return
    except AttributeError:  # a ref without a future (a small put value)
        pass
    for ref in refs:
        future = ref._future
        if future is None or future.client is current:
            continue
        client = future.client
        if client is not None and client.status in ("closing", "closed"):
            raise ValueError(
                "You are trying to access Ray objects whose owner is unknown. Please make sure "
                "that all Ray objects you are trying to access are part of the current Ray "
                f"session: {ref!r} was made before ray.shutdown()."
            )
