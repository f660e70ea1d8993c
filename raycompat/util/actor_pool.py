"""ActorPool: spread work over a fixed set of actors (``ray.util.actor_pool``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from .. import _objects, exceptions
from .._objects import ObjectRef

V = TypeVar("V")

_TIMEOUT_MESSAGE = "Timed out waiting for result"


def _as_key(refs: Any) -> Any:
    """A hashable stand-in for what ``fn`` returned: one ObjectRef, or a list of them."""
    return tuple(refs) if isinstance(refs, list) else refs


def _first(refs: Any) -> ObjectRef[Any]:
    return refs[0] if isinstance(refs, (list, tuple)) else refs


class ActorPool:
    """Run work on a fixed pool of actors, one call per idle actor at a time.

    Args:
        actors: The actor handles to use.

    Example:
        >>> pool = ActorPool([Doubler.remote(), Doubler.remote()])  # doctest: +SKIP
        >>> list(pool.map(lambda a, v: a.double.remote(v), [1, 2, 3, 4]))  # doctest: +SKIP
        [2, 4, 6, 8]

    Each ``fn(actor, value)`` must return the ObjectRef of the call it made (or a list of them);
    the actor is busy until that ref is ready and taken with ``get_next()`` or
    ``get_next_unordered()``. Values submitted while every actor is busy wait in the pool.
    """

    def __init__(self, actors: Iterable[Any]) -> None:
        self._idle_actors: list[Any] = list(actors)
        self._future_to_actor: dict[Any, tuple[int, Any]] = {}  # refs -> (index, actor)
        self._index_to_future: dict[int, Any] = {}
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending_submits: list[tuple[Callable[[Any, Any], Any], Any]] = []

    def __repr__(self) -> str:
        return (
            f"ActorPool(idle={len(self._idle_actors)}, busy={len(self._future_to_actor)}, "
            f"queued={len(self._pending_submits)})"
        )

    # -- submitting -----------------------------------------------------------------------------

    def map(self, fn: Callable[[Any, V], Any], values: Iterable[V]) -> Iterator[Any]:
        """Apply ``fn(actor, value)`` to every value and yield the results in input order.

        Results not taken from an earlier ``submit()`` or ``map()`` are dropped first.
        """
        self._drop_pending_results(ordered=True)
        for value in values:
            self.submit(fn, value)

        def results() -> Iterator[Any]:
            while self.has_next():
                yield self.get_next()

        return results()

    def map_unordered(self, fn: Callable[[Any, V], Any], values: Iterable[V]) -> Iterator[Any]:
        """Like ``map()``, but yield each result as soon as it is ready."""
        self._drop_pending_results(ordered=False)
        for value in values:
            self.submit(fn, value)

        def results() -> Iterator[Any]:
            while self.has_next():
                yield self.get_next_unordered()

        return results()

    def _drop_pending_results(self, ordered: bool) -> None:
        while self.has_next():
            try:
                if ordered:
                    self.get_next(timeout=0, ignore_if_timedout=True)
                else:
                    self.get_next_unordered(timeout=0, ignore_if_timedout=True)
            except TimeoutError:
                pass
            except Exception:  # noqa: BLE001 - a dropped result's error is dropped with it
                pass

    def submit(self, fn: Callable[[Any, V], Any], value: V) -> None:
        """Run ``fn(actor, value)`` on an idle actor now, or as soon as one is free.

        Take the result with ``get_next()`` or ``get_next_unordered()``.
        """
        if not self._idle_actors:
            self._pending_submits.append((fn, value))
            return
        actor = self._idle_actors.pop()
        refs = fn(actor, value)
        if not isinstance(_first(refs), ObjectRef):
            self._idle_actors.append(actor)
            raise TypeError(
                f"The function given to ActorPool must return the ObjectRef of the call it makes, "
                f"got {refs!r}. Return the call itself: lambda actor, v: actor.method.remote(v)."
            )
        self._future_to_actor[_as_key(refs)] = (self._next_task_index, actor)
        self._index_to_future[self._next_task_index] = refs
        self._next_task_index += 1

    # -- taking results ----------------------------------------------------------------------------

    def has_next(self) -> bool:
        """Whether results are still to be taken."""
        return bool(self._future_to_actor)

    def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False) -> Any:
        """Return the next result in submission order.

        Args:
            timeout: Seconds to wait at most; ``None`` waits forever.
            ignore_if_timedout: On timeout, drop this result (its actor goes back to the pool)
                before raising TimeoutError, so the next call moves on.

        Raises:
            StopIteration: If no result is pending.
            TimeoutError: If the result is not ready within ``timeout``.
            ValueError: If ``get_next_unordered()`` already took results out of order.
        """
        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_return_index >= self._next_task_index:
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        refs = self._index_to_future[self._next_return_index]
        timed_out = False
        if timeout is not None:
            ready, _ = _objects.wait([_first(refs)], timeout=max(0.0, timeout))
            if not ready:
                if not ignore_if_timedout:
                    raise TimeoutError(_TIMEOUT_MESSAGE)
                timed_out = True
        del self._index_to_future[self._next_return_index]
        self._next_return_index += 1
        _, actor = self._future_to_actor.pop(_as_key(refs))
        if timed_out:
            self._return_actor(actor)
            raise TimeoutError(f"{_TIMEOUT_MESSAGE}. The task {refs} has been ignored.")
        return self._get_result(refs, actor)

    def get_next_unordered(self, timeout: float | None = None, ignore_if_timedout: bool = False) -> Any:
        """Return whichever pending result is ready first.

        Args:
            timeout: Seconds to wait at most; ``None`` waits forever.
            ignore_if_timedout: On timeout, drop the oldest pending result (its actor goes back
                to the pool) before raising TimeoutError.

        Raises:
            StopIteration: If no result is pending.
            TimeoutError: If no result is ready within ``timeout``.
        """
        if not self.has_next():
            raise StopIteration("No more results to get")
        by_ref = {_first(key): key for key in self._future_to_actor}
        ready, _ = _objects.wait(list(by_ref), num_returns=1, timeout=None if timeout is None else max(0.0, timeout))
        if ready:
            key = by_ref[ready[0]]
        elif not ignore_if_timedout:
            raise TimeoutError(_TIMEOUT_MESSAGE)
        else:
            key = min(self._future_to_actor, key=lambda k: self._future_to_actor[k][0])
        index, actor = self._future_to_actor.pop(key)
        refs = self._index_to_future.pop(index)
        self._next_return_index = max(self._next_return_index, index + 1)
        if not ready:
            self._return_actor(actor)
            raise TimeoutError(f"{_TIMEOUT_MESSAGE}. The task {refs} has been ignored.")
        return self._get_result(refs, actor)

    def _get_result(self, refs: Any, actor: Any) -> Any:
        alive = True
        try:
            return _objects.get(list(refs) if isinstance(refs, tuple) else refs)
        except exceptions.ActorDiedError:
            alive = False  # a dead actor leaves the pool
            raise
        finally:
            self._return_actor(actor, alive)

    def _return_actor(self, actor: Any, alive: bool = True) -> None:
        if alive:
            self._idle_actors.append(actor)
        if self._pending_submits and self._idle_actors:
            self.submit(*self._pending_submits.pop(0))

    # -- the actors -------------------------------------------------------------------------------

    def has_free(self) -> bool:
        """Whether an actor is idle and no submitted value is waiting for one."""
        return bool(self._idle_actors) and not self._pending_submits

    def pop_idle(self) -> Any:
        """Remove an idle actor from the pool and return it; None if none is free."""
        if self.has_free():
            return self._idle_actors.pop()
        return None

    def push(self, actor: Any) -> None:
        """Add ``actor`` to the pool; it takes a waiting value at once if there is one.

        Raises:
            ValueError: If the actor is already in this pool.
        """
        busy = [a for _, a in self._future_to_actor.values()]
        if actor in self._idle_actors or actor in busy:
            raise ValueError("Actor already belongs to current ActorPool")
        self._return_actor(actor)
