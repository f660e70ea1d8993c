"""The wait engine: wakes ``wait()`` when a ref finishes; and blocking waits Ctrl-C can end.

One engine for refs of every kind: a Dask future is watched by a coroutine on its client's
event loop, an actor call or a generator's next item by a done-callback.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import itertools
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import dask_private, interrupts

if TYPE_CHECKING:
    from .refs import ObjectRef


# How often a wait in the main thread wakes up to hand on a Ctrl-C (see interrupts.py): Python
# runs a signal handler in the main thread only when that thread runs again, and a lock wait
# without a timeout would sleep through it.
SIGNAL_SLICE = 0.2


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (a ``time.monotonic()`` value); None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _slice(left: float | None) -> float | None:
    """How long one blocking wait may last: in the main thread, at most ``SIGNAL_SLICE``."""
    if threading.current_thread() is not threading.main_thread():
        return left
    return SIGNAL_SLICE if left is None else min(left, SIGNAL_SLICE)


def wait_futures(
    futures: Iterable[concurrent.futures.Future[Any]], deadline: float | None = None
) -> set[concurrent.futures.Future[Any]]:
    """Wait until all of ``futures`` are done or ``deadline`` passes; return those not done.
    Ctrl-C raises KeyboardInterrupt here at once."""
    pending = set(futures)
    while pending:
        left = remaining(deadline)
        _, pending = concurrent.futures.wait(pending, timeout=_slice(left))
        interrupts.deliver()
        if left == 0:
            break
    return pending


class Completions:
    """Wakes waiters when any watched future, actor call or generator item finishes.

    Each ref is watched once, with one done-callback, however often it is waited on: draining
    n refs with ``wait(num_returns=1)`` costs O(n) callbacks, not O(n) per call. A waiter
    looks at its refs again only when one of them is among those that finished.
    """

    RECENT = 4096

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tracking: set[asyncio.Task[None]] = set()
        self._recent: collections.deque[int] = collections.deque(maxlen=self.RECENT)  # ids of finished refs
        self.count = 0

    def watch(self, refs: Iterable[ObjectRef[Any]]) -> None:
        """Wake waiters when any of ``refs`` finishes; again after a finished future was reset.

        Dask resets a finished future to pending when its data is lost with a worker and the
        task must run again: its first wake-up has fired, so it is armed once more. A Dask
        future is watched by a coroutine on the client's event loop, as ``as_completed`` does,
        not by ``add_done_callback``, which adds a hop through Dask's callback thread.
        """
        by_loop: dict[Any, list[ObjectRef[Any]]] = {}
        for ref in refs:
            if ref._watched:
                continue
            ref._watched = True
            if ref._call is not None and not ref._call.done():
                ref._call.add_done_callback(functools.partial(self._done, ref))
            elif ref._future is not None:
                by_loop.setdefault(ref._future.client.loop, []).append(ref)
        for loop, futures in by_loop.items():
            loop.add_callback(self._track, futures)

    async def _track(self, refs: list[ObjectRef[Any]]) -> None:
        for ref in refs:
            task = asyncio.ensure_future(self._when_done(ref))
            self._tracking.add(task)  # asyncio keeps only a weak reference to a task
            task.add_done_callback(self._tracking.discard)

    async def _when_done(self, ref: ObjectRef[Any]) -> None:
        future = ref._future
        if future is not None:
            await dask_private.future_finished(future)
        self._done(ref)

    def watch_future(self, waitable: Any, future: concurrent.futures.Future[Any]) -> None:
        """Wake waiters when ``future`` finishes, which makes ``waitable`` ready (a generator's
        next item)."""
        if not getattr(future, "_raycompat_watched", False):
            future._raycompat_watched = True  # type: ignore[attr-defined]
            future.add_done_callback(lambda _f: self._finished(id(waitable)))

    def _done(self, ref: ObjectRef[Any], _future: Any = None) -> None:
        ref._watched = False
        self._finished(id(ref))

    def _finished(self, ident: int) -> None:
        with self._cond:
            self.count += 1
            self._recent.append(ident)
            self._cond.notify_all()

    def wait_for_change(self, seen: int, timeout: float | None) -> tuple[int, list[int] | None]:
        """Block until the count passes ``seen`` (or ``timeout``).

        Return the new count and the ids of the refs finished since ``seen``, or None in place
        of the ids when there were more than the last ``RECENT`` kept.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.count == seen and (left := remaining(deadline)) != 0:
                self._cond.wait(_slice(left))
                interrupts.deliver()
            new = self.count - seen
            finished = list(itertools.islice(reversed(self._recent), new)) if new <= len(self._recent) else None
            return self.count, finished


completions = Completions()
