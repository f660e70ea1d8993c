"""``get``: fetch the values of refs, and Ray's exception for each way that can fail."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from distributed import Future

from . import dask_private, errors
from .backend import Backend, blocking
from .binding import call_result, future_if_stored
from .completions import wait_futures
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
            not_done = wait_futures(calls, deadline)
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
        value = loaded(ref._value if ref._has_value else values[ref._key])
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
    """Wait for and fetch ``futures``; raise the first failure in ``refs`` order.

    The waiting and the fetch run as one coroutine on the client's event loop, while this
    thread waits for it; if the wait ends early (``timeout``, Ctrl-C) the coroutine is
    cancelled, so nothing of it is left behind. Ctrl-C raises KeyboardInterrupt, as in Ray.
    """
    client = backend.client
    fetching = asyncio.run_coroutine_threadsafe(_settle_and_fetch(client, list(futures.values())), client.loop.asyncio_loop)
    try:
        not_done = wait_futures([fetching], deadline)
    finally:
        fetching.cancel()  # a no-op once it has finished
    if not_done:
        raise errors.timeout_error(timeout, len(refs), sum(not f.done() for f in futures.values()))
    try:
        fetched = fetching.result()
    except BaseException as exc:
        for ref in refs:  # Ray raises the error of the first failed ref in the list
            future = futures.get(ref._key)
            if future is not None and future.status in ("error", "cancelled", "lost"):
                raise errors.task_failure(future, backend) from None
        raise errors.as_ray_error(exc) from None
    return dict(zip(futures, fetched))


async def _settle_and_fetch(client: Any, futures: list[Future]) -> list[Any]:
    """Wait until every future has finished, or one has failed; then fetch them all."""
    pending = [f for f in futures if not f.done()]
    if pending and not any(f.status in ("error", "cancelled") for f in futures):
        await _settled(pending)
    return await dask_private.gather(client, futures)


async def _settled(futures: list[Future]) -> None:
    """Return once every one of ``futures`` has finished, or at once when one fails."""
    settled = asyncio.Event()
    left = len(futures)

    async def watch(future: Future) -> None:
        nonlocal left
        await dask_private.future_finished(future)
        left -= 1
        if left == 0 or future.status in ("error", "cancelled"):
            settled.set()

    watches = [asyncio.ensure_future(watch(f)) for f in futures]
    try:
        await settled.wait()
    finally:
        for task in watches:
            task.cancel()


def check_session(backend: Backend, refs: list[ObjectRef[Any]]) -> None:
    """Refuse refs of an earlier session, as Ray does after shutdown() and a new init()."""
    current = backend.client
    try:  # the quick check first: wait() is called in loops over long lists
        if dask_private.clients_of_refs(refs) == {current}:
            return
    except AttributeError:  # a ref without a future (a small put value)
        pass
    for ref in refs:
        future = getattr(ref, "_future", None)  # an ObjectRefGenerator (in wait) has none
        client = None if future is None else dask_private.future_client(future)
        if client is not None and client is not current and client.status in ("closing", "closed"):
            raise ValueError(
                "You are trying to access Ray objects whose owner is unknown. Please make sure "
                "that all Ray objects you are trying to access are part of the current Ray "
                f"session: {ref!r} was made before ray.shutdown()."
            )
