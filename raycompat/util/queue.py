"""Queue: a first-in, first-out queue that tasks and actors share (``ray.util.queue``).

The queue lives in an async actor holding an ``asyncio.Queue``, as in Ray; the ``Queue`` object
is a thin client around the actor's handle, so it pickles and can be passed to tasks and actors.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterable
from typing import Any

from .. import _objects
from .._remote import remote
from ..actor import kill


class Empty(queue.Empty):
    """Raised by ``get`` when the queue stays empty; also a ``queue.Empty``."""


class Full(queue.Full):
    """Raised by ``put`` when the queue stays full; also a ``queue.Full``."""


def _check_timeout(timeout: float | None) -> None:
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")


class Queue:
    """A first-in, first-out queue that any task, actor or driver can use.

    Args:
        maxsize: The most items the queue holds; 0 means no limit.
        actor_options: Options for the queue's actor, as for ``Actor.options(...)``.

    Example:
        >>> q = Queue(maxsize=10)  # doctest: +SKIP
        >>> q.put(1); q.get()  # doctest: +SKIP
        1

    Dask note: the queue's actor is a process of its own, as every raycompat actor is.
    """

    def __init__(self, maxsize: int = 0, actor_options: dict[str, Any] | None = None) -> None:
        self.maxsize = maxsize
        self.actor: Any = remote(_QueueActor).options(**(actor_options or {})).remote(maxsize)

    def __len__(self) -> int:
        return self.size()

    def __repr__(self) -> str:
        return f"Queue(maxsize={self.maxsize}, actor={self.actor!r})"

    def size(self) -> int:
        """The number of items in the queue."""
        return int(_objects.get(self._handle().qsize.remote()))

    def qsize(self) -> int:
        """The number of items in the queue."""
        return self.size()

    def empty(self) -> bool:
        """Whether the queue is empty."""
        return bool(_objects.get(self._handle().empty.remote()))

    def full(self) -> bool:
        """Whether the queue is full."""
        return bool(_objects.get(self._handle().full.remote()))

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Add ``item``; if the queue is full, wait for room (up to ``timeout`` s if ``block``).

        Raises:
            Full: If the queue is full and ``block`` is False, or still full after ``timeout``.
            ValueError: If ``timeout`` is negative.
        """
        if not block:
            try:
                _objects.get(self._handle().put_nowait.remote(item))
            except asyncio.QueueFull:
                raise Full from None
        else:
            _check_timeout(timeout)
            _objects.get(self._handle().put.remote(item, timeout))

    async def put_async(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Like ``put()``, for use in ``async`` code."""
        if not block:
            try:
                await self._handle().put_nowait.remote(item)
            except asyncio.QueueFull:
                raise Full from None
        else:
            _check_timeout(timeout)
            await self._handle().put.remote(item, timeout)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the first item; if there is none, wait (up to ``timeout`` s if ``block``).

        Raises:
            Empty: If the queue is empty and ``block`` is False, or still empty after ``timeout``.
            ValueError: If ``timeout`` is negative.
        """
        if not block:
            try:
                return _objects.get(self._handle().get_nowait.remote())
            except asyncio.QueueEmpty:
                raise Empty from None
        _check_timeout(timeout)
        return _objects.get(self._handle().get.remote(timeout))

    async def get_async(self, block: bool = True, timeout: float | None = None) -> Any:
        """Like ``get()``, for use in ``async`` code."""
        if not block:
            try:
                return await self._handle().get_nowait.remote()
            except asyncio.QueueEmpty:
                raise Empty from None
        _check_timeout(timeout)
        return await self._handle().get.remote(timeout)

    def put_nowait(self, item: Any) -> None:
        """``put(item, block=False)``."""
        return self.put(item, block=False)

    def put_nowait_batch(self, items: Iterable[Any]) -> None:
        """Add all ``items`` in order, or none of them.

        Raises:
            Full: If they do not all fit.
            TypeError: If ``items`` is not iterable.
        """
        if not isinstance(items, Iterable):
            raise TypeError("Argument 'items' must be an Iterable")
        _objects.get(self._handle().put_nowait_batch.remote(list(items)))

    def get_nowait(self) -> Any:
        """``get(block=False)``."""
        return self.get(block=False)

    def get_nowait_batch(self, num_items: int) -> list[Any]:
        """Remove and return ``num_items`` items in order, or none.

        Raises:
            Empty: If fewer than ``num_items`` items are there.
            TypeError: If ``num_items`` is not an int.
            ValueError: If ``num_items`` is negative.
        """
        if not isinstance(num_items, int):
            raise TypeError("Argument 'num_items' must be an int")
        if num_items < 0:
            raise ValueError("'num_items' must be nonnegative")
        return list(_objects.get(self._handle().get_nowait_batch.remote(num_items)))

    def shutdown(self, force: bool = False, grace_period_s: int = 5) -> None:
        """End the queue's actor: at once with ``force``, else after the calls already sent.

        A graceful shutdown that takes longer than ``grace_period_s`` seconds is forced.
        """
        if self.actor is not None:
            if force:
                kill(self.actor, no_restart=True)
            else:
                done = self.actor.__ray_terminate__.remote()
                _, not_done = _objects.wait([done], timeout=grace_period_s)
                if not_done:
                    kill(self.actor, no_restart=True)
        self.actor = None

    def _handle(self) -> Any:
        if self.actor is None:
            raise RuntimeError("This queue was shut down. Create a new ray.util.queue.Queue() to go on.")
        return self.actor


class _QueueActor:
    """The actor behind a Queue: an asyncio.Queue served on the actor's event loop."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)

    def qsize(self) -> int:
        return self.queue.qsize()

    def empty(self) -> bool:
        return self.queue.empty()

    def full(self) -> bool:
        return self.queue.full()

    async def put(self, item: Any, timeout: float | None = None) -> None:
        try:
            await asyncio.wait_for(self.queue.put(item), timeout)
        except asyncio.TimeoutError:
            raise Full from None

    async def get(self, timeout: float | None = None) -> Any:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            raise Empty from None

    def put_nowait(self, item: Any) -> None:
        self.queue.put_nowait(item)

    def put_nowait_batch(self, items: list[Any]) -> None:
        if self.maxsize > 0 and len(items) + self.qsize() > self.maxsize:
            raise Full(
                f"Cannot add {len(items)} items to queue of size {self.qsize()} and maxsize {self.maxsize}."
            )
        for item in items:
            self.queue.put_nowait(item)

    def get_nowait(self) -> Any:
        return self.queue.get_nowait()

    def get_nowait_batch(self, num_items: int) -> list[Any]:
        if num_items > self.qsize():
            raise Empty(f"Cannot get {num_items} items from queue of size {self.qsize()}.")
        return [self.queue.get_nowait() for _ in range(num_items)]
