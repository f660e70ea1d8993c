"""ObjectRefGenerator: the caller's side of a generator task.

The task stores each value it yields under a key of its own and files the key in a mailbox
on the scheduler (``scheduler/generators.py``); the caller long-polls the mailbox for item
``i`` and hands out one ObjectRef per item as soon as it exists.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Generic, TypeVar

from . import backend as backends
from .backend import Backend, blocking
from .binding import future_if_stored
from .completions import wait_futures
from .refs import ObjectRef, rebuild_ref

T = TypeVar("T")

WAIT_SLICE = 5.0  # seconds per mailbox long-poll before the caller checks the task itself


class ObjectRefGenerator(Generic[T]):
    """Yields an ObjectRef for each value a generator task yields, as soon as it is yielded.

    Use it with ``next()``, ``for``, ``async for`` or in ``ray.wait()``. If the task raises, the
    next ref holds the error (``ray.get`` raises it) and the iteration ends after it.

    Example:
        >>> @ray.remote  # doctest: +SKIP
        ... def count(n):
        ...     yield from range(n)
        >>> [ray.get(ref) for ref in count.remote(3)]  # doctest: +SKIP
        [0, 1, 2]

    Dask note: each value is a Dask key of its own (``<task key>-<i>``), kept in the worker
    that made it. There is no backpressure: the task runs ahead of its reader.
    """

    def __init__(self, generator_ref: ObjectRef[Any]) -> None:
        self._generator_ref = generator_ref
        self._index = 0
        self._pending: concurrent.futures.Future[dict[str, Any]] | None = None
        self._finished = False
        self._backend = backends.current()

    def __repr__(self) -> str:
        return f"ObjectRefGenerator({self._generator_ref.hex()})"

    # -- iteration ----------------------------------------------------------------------------

    def __iter__(self) -> ObjectRefGenerator[T]:
        return self

    def __next__(self) -> ObjectRef[T]:
        if self._finished:
            raise StopIteration
        pending = self._fetch()
        if not pending.done():
            with blocking():
                wait_futures([pending])
        ref = self._take(pending.result())
        if ref is None:
            raise StopIteration
        return ref

    def __aiter__(self) -> ObjectRefGenerator[T]:
        return self

    async def __anext__(self) -> ObjectRef[T]:
        if self._finished:
            raise StopAsyncIteration
        reply = await asyncio.wrap_future(self._fetch())
        ref = self._take(reply)
        if ref is None:
            raise StopAsyncIteration
        return ref

    def send(self, value: Any) -> Any:
        raise NotImplementedError("`gen.send` is not supported.")

    def throw(self, value: Any) -> Any:
        raise NotImplementedError("`gen.throw` is not supported.")

    def close(self) -> None:
        raise NotImplementedError("`gen.close` is not supported.")

    # -- state --------------------------------------------------------------------------------

    def completed(self) -> ObjectRef[Any]:
        """An ObjectRef that is ready when the task has ended; ``get`` raises if it failed."""
        return self._generator_ref

    def next_ready(self) -> bool:
        """Whether ``next()`` would return a ref at once (False once the stream is finished)."""
        if self._finished:
            return False
        pending = self._fetch()
        return pending.done() and "end" not in pending.result()

    def is_finished(self) -> bool:
        """Whether every ref has been taken, so ``next()`` raises StopIteration."""
        return self._finished

    def _fetch(self) -> concurrent.futures.Future[dict[str, Any]]:
        """Start asking for the next item, unless already asking."""
        if self._pending is None:
            task_future = future_if_stored(self._generator_ref)
            self._pending = _next_item(self._backend, self._generator_ref._key, self._index, task_future)
        return self._pending

    def _take(self, reply: dict[str, Any]) -> ObjectRef[T] | None:
        """Turn the mailbox's reply into the next ref; None at the end."""
        self._pending = None
        if "key" in reply:
            self._index += 1
            return rebuild_ref(reply["key"])
        self._finished = True
        _close(self._backend, self._generator_ref._key)
        if "end" in reply:
            return None
        return self._generator_ref  # the task failed or was cancelled: reading this raises why

    def _is_ready(self) -> bool:
        """For ray.wait: whether ``next()`` would not block."""
        return self._finished or self._fetch().done()

    def __reduce__(self) -> Any:
        raise TypeError(
            "You cannot return or pass a generator to other task. Serializing a "
            "ObjectRefGenerator is not allowed. Pass the refs it yields instead."
        )

    def __del__(self) -> None:
        try:
            if not self._finished:
                _close(self._backend, self._generator_ref._key)
        except Exception:  # interpreter shutdown
            pass


def _next_item(backend: Backend, stream: str, index: int, task_future: Any) -> concurrent.futures.Future[dict[str, Any]]:
    """Start waiting for item ``index`` of ``stream``; the future's result is the mailbox's reply.

    The reply holds ``key`` (the item's Dask key), ``end`` (the item count), or ``failed`` /
    ``closed`` when the task failed or was cancelled before producing item ``index``.
    """
    client = backend.client

    async def wait() -> dict[str, Any]:
        while True:
            reply: dict[str, Any] | None = await client.scheduler.raycompat_generator_wait(
                stream=stream, index=index, timeout=WAIT_SLICE
            )
            if reply is not None:
                return reply
            if task_future is not None and task_future.status in ("error", "cancelled", "lost"):
                return {"failed": True}

    return asyncio.run_coroutine_threadsafe(wait(), client.loop.asyncio_loop)


def _close(backend: Backend, stream: str) -> None:
    """Forget the stream; items the task yields from now on are dropped. Never blocks."""
    client = backend.client
    try:
        client.loop.add_callback(client.scheduler.raycompat_generator_close, stream=stream)
    except Exception:  # the client is closing: the scheduler forgets the stream with the task
        pass
