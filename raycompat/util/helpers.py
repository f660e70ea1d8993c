"""as_completed and map_unordered: take results as they finish (``ray.util.helpers``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .. import _objects
from .._objects import ObjectRef

# Refs taken per ray.wait() round, and tasks in flight before map_unordered waits: Ray's values.
DEFAULT_CHUNK_SIZE = 10
DEFAULT_BACKPRESSURE_SIZE = 100


def _take_batch(
    refs: list[ObjectRef[Any]], *, chunk_size: int, yield_obj_refs: bool = False, **kwargs: Any
) -> tuple[list[Any], list[ObjectRef[Any]]]:
    """Wait for up to ``chunk_size`` refs; return (their values or refs, the refs still pending)."""
    if chunk_size < 1:
        raise ValueError("`chunk_size` must be >= 1")
    ready, rest = _objects.wait(refs, num_returns=min(chunk_size, len(refs)), **kwargs)
    return (ready if yield_obj_refs else _objects.get(ready)), rest


def as_completed(
    refs: Sequence[ObjectRef[Any]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    yield_obj_refs: bool = False,
    **kwargs: Any,
) -> Iterator[Any]:
    """Yield the results of ``refs`` as they become ready, ``chunk_size`` at a time.

    Args:
        refs: ObjectRefs of running tasks.
        chunk_size: How many ready refs to wait for per round (``num_returns`` of ``ray.wait``).
        yield_obj_refs: Yield the ready ObjectRefs instead of their values.
        **kwargs: More arguments for ``ray.wait``, such as ``timeout``.

    Raises:
        ValueError: If ``chunk_size`` < 1, or ``num_returns`` is passed.
    """
    if chunk_size < 1:
        raise ValueError("`chunk_size` must be >= 1")
    if "num_returns" in kwargs:
        raise ValueError("Use the `chunksize` argument instead of `num_returns`.")
    pending = list(refs)
    while pending:
        results, pending = _take_batch(pending, chunk_size=chunk_size, yield_obj_refs=yield_obj_refs, **kwargs)
        yield from results


def map_unordered(
    fn: Any,
    items: Iterable[Any],
    *,
    backpressure_size: int | None = DEFAULT_BACKPRESSURE_SIZE,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    yield_obj_refs: bool = False,
    **kwargs: Any,
) -> Iterator[Any]:
    """Run ``fn.remote(item)`` for every item and yield the results as they finish.

    Args:
        fn: A remote function (``@ray.remote``).
        items: The single argument of each call.
        backpressure_size: At most this many tasks in flight; None for no limit.
        chunk_size: How many ready results to wait for per round.
        yield_obj_refs: Yield ObjectRefs instead of values.
        **kwargs: More arguments for ``ray.wait``, such as ``timeout``.

    Raises:
        ValueError: If ``backpressure_size`` <= 0, ``chunk_size`` < 1, or ``num_returns`` is passed.
    """
    limit: float
    if backpressure_size is None:
        limit = float("inf")
    elif backpressure_size <= 0:
        raise ValueError("backpressure_size must be positive.")
    else:
        limit = backpressure_size
    if chunk_size < 1:
        raise ValueError("`chunk_size` must be >= 1")
    if "num_returns" in kwargs:
        raise ValueError("Use the `chunk_size` argument instead of `num_returns`.")
    refs: list[ObjectRef[Any]] = []
    for item in items:
        refs.append(fn.remote(item))
        if len(refs) >= limit:
            results, refs = _take_batch(refs, chunk_size=chunk_size, yield_obj_refs=yield_obj_refs, **kwargs)
            yield from results
    yield from as_completed(refs, chunk_size=chunk_size, yield_obj_refs=yield_obj_refs, **kwargs)
