"""ObjectRefGenerator and DynamicObjectRefGenerator: the results of generator tasks.

A remote generator function (or one with ``num_returns="streaming"``) returns an
ObjectRefGenerator at once; it yields one ObjectRef per value, as the task yields it.
With ``num_returns="dynamic"`` the task returns one ObjectRef whose value is a
DynamicObjectRefGenerator over all the values' refs.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import time
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from . import _session
from ._dask import driver, generators as _engine
from ._object_ref import ObjectRef

T = TypeVar("T")


class DynamicObjectRefGenerator(Generic[T]):
    """The value of a ``num_returns="dynamic"`` task: iterate it for one ObjectRef per value.

    Iterating consumes it, as in Ray.
    """

    def __init__(self, refs: Iterable[ObjectRef[T]]) -> None:
        self._refs: collections.deque[ObjectRef[T]] = collections.deque(refs)

    def __iter__(self) -> Iterator[ObjectRef[T]]:
        while self._refs:
            yield self._refs.popleft()

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"DynamicObjectRefGenerator({len(self._refs)} refs)"


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
        self._backend = _session.current().backend

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
            with driver.blocking():
                concurrent.futures.wait([pending])
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
            task_future = driver.future_if_stored(self._generator_ref)
            self._pending = _engine.next_item(self._backend, self._generator_ref._key, self._index, task_future)
        return self._pending

    def _take(self, reply: dict[str, Any]) -> ObjectRef[T] | None:
        """Turn the mailbox's reply into the next ref; None at the end."""
        self._pending = None
        if "key" in reply:
            self._index += 1
            return driver.rebuild_ref(reply["key"])
        self._finished = True
        _engine.close(self._backend, self._generator_ref._key)
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
                _engine.close(self._backend, self._generator_ref._key)
        except Exception:  # interpreter shutdown
            pass


def wait(
    waitables: list[Any], num_returns: int, timeout: float | None
) -> tuple[list[Any], list[Any]]:
    """``ray.wait`` over ObjectRefs and ObjectRefGenerators together."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def ready(w: Any) -> bool:
        return w._is_ready() if isinstance(w, ObjectRefGenerator) else driver.is_ready(w)

    with driver.blocking():
        while True:
            done = [w for w in waitables if ready(w)]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if len(done) >= num_returns or remaining == 0:
                break
            futures = [
                w._fetch() if isinstance(w, ObjectRefGenerator) else _engine.done_future(w)
                for w in waitables
                if not ready(w)
            ]
            concurrent.futures.wait(futures, timeout=remaining, return_when="FIRST_COMPLETED")
    taken = done[:num_returns]
    ids = {id(w) for w in taken}
    return taken, [w for w in waitables if id(w) not in ids]
