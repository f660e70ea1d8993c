"""``wait``: the first ``num_returns`` ready refs (and generators) of a list, as they finish."""

from __future__ import annotations

import time
from typing import Any, Union

from . import errors
from .backend import Backend, blocking
from .binding import is_ready
from .completions import completions, remaining
from .fetch import check_session
from .refs import ObjectRef
from .streams import ObjectRefGenerator

Waitable = Union[ObjectRef[Any], ObjectRefGenerator[Any]]


def wait(backend: Backend, waitables: list[Waitable], num_returns: int, timeout: float | None) -> tuple[list[Waitable], list[Waitable]]:
    """Return (ready, not_ready) once ``num_returns`` are ready or ``timeout`` passes."""
    deadline = None if timeout is None else time.monotonic() + timeout
    check_session(backend, waitables)  # type: ignore[arg-type]  (generators pass: they have no future)
    with blocking():
        seen = completions.count  # read first: a completion after this wakes us below
        ready = _first_ready(waitables, num_returns)
        mine: set[int] = set()
        scanned = True
        while len(ready) < num_returns and (left := remaining(deadline)) != 0:
            errors.ensure_connected(backend)
            if scanned:  # watch the ones not ready (again: a finished future can be reset)
                ready_ids = {id(w) for w in ready}  # all of them: the scan went to the end
                _watch([w for w in waitables if id(w) not in ready_ids])
                mine = mine or set(map(id, waitables))
            seen, finished = completions.wait_for_change(seen, left)
            scanned = finished is None or not mine.isdisjoint(finished)
            if scanned:
                ready = _first_ready(waitables, num_returns)
    if len(ready) == 1:
        i = waitables.index(ready[0])  # identity first, so this is quick: the first ready one is near the front
        return ready, waitables[:i] + waitables[i + 1 :]
    taken = {id(w) for w in ready}
    return ready, [w for w in waitables if id(w) not in taken]


def _watch(waitables: list[Waitable]) -> None:
    refs = []
    for w in waitables:
        if isinstance(w, ObjectRefGenerator):
            completions.watch_future(w, w._fetch())
        else:
            refs.append(w)
    completions.watch(refs)


def _first_ready(waitables: list[Waitable], num_returns: int) -> list[Waitable]:
    """The first ``num_returns`` ready ones, in the order given.

    The scan stops there: draining finished refs with ``wait(num_returns=1)`` then costs O(1)
    a call instead of a look at every ref (docs/performance.md has the figures).
    """
    ready = []
    for w in waitables:
        if type(w) is ObjectRef:
            future = w._future
            done = w._has_value or (future.done() if future is not None and w._call is None else is_ready(w))
        else:
            done = w._is_ready()  # type: ignore[union-attr]
        if done:
            ready.append(w)
            if len(ready) == num_returns:
                break
    return ready
