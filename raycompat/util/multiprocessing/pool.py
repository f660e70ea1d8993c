"""Pool: ``multiprocessing.Pool`` on the cluster (``ray.util.multiprocessing.pool``).

Work is cut into chunks; each chunk is one remote task that calls the function on its items
and keeps each item's error apart, so one failing item fails only its own result, as in the
standard library. At most ``processes`` chunks run at once; the rest wait in this process.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing import TimeoutError
from typing import Any

from ... import _cluster_info, _objects, _session, exceptions
from ..._objects import ObjectRef
from ..._remote import remote

# -- inside the worker ------------------------------------------------------------------------


@dataclass
class _ItemError:
    """An item whose call raised: the error is raised again where its result is read."""

    error: BaseException


_initialized: set[str] = set()
_init_lock = threading.Lock()


def _run_chunk(
    pool_id: str,
    initializer: Callable[..., Any] | None,
    initargs: tuple[Any, ...],
    func: Callable[..., Any],
    chunk: list[tuple[tuple[Any, ...], dict[str, Any]]],
) -> list[Any]:
    """Call ``func`` on every item of the chunk (the pool's initializer once per process)."""
    if initializer is not None:
        with _init_lock:
            if pool_id not in _initialized:
                initializer(*initargs)
                _initialized.add(pool_id)
    results: list[Any] = []
    for args, kwargs in chunk:
        try:
            results.append(func(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - it belongs to this item's result
            results.append(_ItemError(exc))
    return results


_run_chunk_remote = remote(_run_chunk)


# -- results ------------------------------------------------------------------------------------


def _unwrap(value: Any) -> Any:
    if isinstance(value, _ItemError):
        raise value.error
    return value


class _Chunk:
    """One chunk: its items' results arrive together, or its task fails as a whole."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.done: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        self.ref: ObjectRef[Any] | None = None


class AsyncResult:
    """The result of ``apply_async``, ``map_async`` or ``starmap_async``.

    Do not create it yourself.
    """

    def __init__(
        self,
        chunks: list[_Chunk],
        single: bool,
        callback: Callable[[Any], Any] | None,
        error_callback: Callable[[BaseException], Any] | None,
    ) -> None:
        self._chunks = chunks
        self._single = single
        self._callback = callback
        self._error_callback = error_callback
        self._all_done = threading.Event()
        self._left = len(chunks)
        self._lock = threading.Lock()
        if not chunks:
            self._finish()
        for chunk in chunks:
            chunk.done.add_done_callback(self._chunk_done)

    def _chunk_done(self, _: Any) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._finish()

    def _finish(self) -> None:
        try:
            error = self._first_error()
            if error is None and self._callback is not None:
                self._callback(self._values())
            elif error is not None and self._error_callback is not None:
                self._error_callback(error)
        finally:
            self._all_done.set()

    def _first_error(self) -> BaseException | None:
        for chunk in self._chunks:
            error = chunk.done.exception()
            if error is not None:
                return error
            for value in chunk.done.result():
                if isinstance(value, _ItemError):
                    return value.error
        return None

    def _values(self) -> Any:
        values = [_unwrap(v) for chunk in self._chunks for v in chunk.done.result()]
        return values[0] if self._single else values

    def ready(self) -> bool:
        """Whether every call has finished."""
        return self._all_done.is_set()

    def successful(self) -> bool:
        """Whether every call finished without an error.

        Raises:
            ValueError: If the result is not ready yet.
        """
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._first_error() is None

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the result is ready, or ``timeout`` seconds pass (without raising)."""
        self._all_done.wait(timeout)

    def get(self, timeout: float | None = None) -> Any:
        """Return the result (a list for the map calls); raise the first call's error if one failed.

        Raises:
            multiprocessing.TimeoutError: If the result is not ready within ``timeout``.
        """
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError
        error = self._first_error()
        if error is not None:
            raise error
        return self._values()


class IMapIterator:
    """The iterator of ``imap`` (input order) and ``imap_unordered`` (completion order).

    ``next(timeout)`` raises ``multiprocessing.TimeoutError`` if no result comes in time.
    """

    def __init__(self, chunks: list[_Chunk], ordered: bool) -> None:
        self._ordered = ordered
        self._waiting: collections.deque[_Chunk] = collections.deque(chunks)
        self._ready: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._finished: collections.deque[_Chunk] = collections.deque()
        self._arrived = threading.Condition(self._lock)
        if not ordered:
            for chunk in chunks:
                chunk.done.add_done_callback(lambda _f, c=chunk: self._arrive(c))

    def _arrive(self, chunk: _Chunk) -> None:
        with self._arrived:
            self._finished.append(chunk)
            self._arrived.notify_all()

    def __iter__(self) -> IMapIterator:
        return self

    def __next__(self) -> Any:
        return self.next()

    def next(self, timeout: float | None = None) -> Any:
        """Return the next result, raising its error if its call failed."""
        while not self._ready:
            if not self._waiting:
                raise StopIteration
            chunk = self._next_chunk(timeout)
            self._waiting.remove(chunk)
            try:
                values = chunk.done.result()
            except BaseException as exc:  # the whole chunk failed: each of its items fails
                values = [_ItemError(exc)] * chunk.size
            self._ready.extend(values)
        return _unwrap(self._ready.popleft())

    def _next_chunk(self, timeout: float | None) -> _Chunk:
        if self._ordered:
            chunk = self._waiting[0]
            try:
                chunk.done.exception(timeout)
            except concurrent.futures.TimeoutError:
                raise TimeoutError from None
            return chunk
        with self._arrived:
            if not self._arrived.wait_for(lambda: bool(self._finished), timeout):
                raise TimeoutError
            return self._finished.popleft()


# -- the pool -----------------------------------------------------------------------------------


class Pool:
    """A pool of workers that runs functions on the cluster, like ``multiprocessing.Pool``.

    Args:
        processes: How many chunks run at once; default all CPUs of the cluster.
        initializer: Called with ``initargs`` once in each worker process before its first call.
        initargs: Arguments of ``initializer``.
        maxtasksperchild: Accepted for compatibility; see the Dask note.
        context: Accepted for compatibility and ignored, as in Ray.
        ray_address: The cluster to join if ``ray.init()`` has not run yet.
        ray_remote_args: Options of the chunk tasks, as for ``f.options(...)`` (``num_cpus``, ...).

    Raises:
        ValueError: If ``processes`` is not positive or more than the cluster's CPUs.

    Dask note: Ray's pool is made of actors; this one runs each chunk as a remote task on
    the Dask workers, so ``maxtasksperchild`` has no effect and ``initializer`` runs once per
    worker process that takes a chunk.
    """

    def __init__(
        self,
        processes: int | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: Iterable[Any] | None = None,
        maxtasksperchild: int | None = None,
        context: Any = None,
        ray_address: str | None = None,
        ray_remote_args: dict[str, Any] | None = None,
    ) -> None:
        if _session.current_or_none() is None:
            _session.init(address=ray_address)
        cpus = int(_cluster_info.cluster_resources().get("CPU", 1))
        if processes is None:
            processes = cpus
        if processes <= 0:
            raise ValueError("Processes in the pool must be >0.")
        if cpus < processes:
            raise ValueError(
                f"Tried to start a pool with {processes} processes on an existing ray cluster, "
                f"but there are only {cpus} CPUs in the ray cluster."
            )
        self._processes = processes
        self._id = uuid.uuid4().hex
        self._initializer = initializer
        self._initargs = tuple(initargs or ())
        self._task = _run_chunk_remote.options(**ray_remote_args) if ray_remote_args else _run_chunk_remote
        self._lock = threading.Lock()
        self._queued: collections.deque[tuple[_Chunk, Callable[..., Any], list[Any]]] = collections.deque()
        self._running: set[_Chunk] = set()
        self._idle = threading.Condition(self._lock)
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<raycompat.util.multiprocessing.Pool state={state} pool_size={self._processes}>"

    # -- running chunks ------------------------------------------------------------------------

    def _submit(self, func: Callable[..., Any], chunk: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> _Chunk:
        handle = _Chunk(len(chunk))
        with self._lock:
            if len(self._running) < self._processes:
                self._running.add(handle)
                start = True
            else:
                self._queued.append((handle, func, chunk))
                start = False
        if start:
            self._start(handle, func, chunk)
        return handle

    def _start(self, handle: _Chunk, func: Callable[..., Any], chunk: list[Any]) -> None:
        try:
            handle.ref = self._task.remote(self._id, self._initializer, self._initargs, func, chunk)
        except BaseException as exc:  # noqa: BLE001 - e.g. an unpicklable function
            handle.done.set_exception(exc)
            self._chunk_ended(handle)
            return
        result = handle.ref.future()

        def ended(f: concurrent.futures.Future[Any]) -> None:
            error = f.exception()
            if not handle.done.done():
                if error is not None:
                    handle.done.set_exception(error)
                else:
                    handle.done.set_result(f.result())
            self._chunk_ended(handle)

        result.add_done_callback(ended)

    def _chunk_ended(self, handle: _Chunk) -> None:
        with self._lock:
            self._running.discard(handle)
            following = self._queued.popleft() if self._queued else None
            if following is not None:
                self._running.add(following[0])
            self._idle.notify_all()
        if following is not None:
            self._start(*following)

    def _check_running(self) -> None:
        if self._closed:
            raise ValueError("Pool not running")

    def _chunks(self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int | None, star: bool, default_one: bool) -> list[_Chunk]:
        self._check_running()
        items = list(iterable)
        if chunksize is None:
            if default_one:
                chunksize = 1
            else:
                chunksize, extra = divmod(len(items), self._processes * 4)
                chunksize += 1 if extra else 0
        chunksize = max(1, int(chunksize))
        calls = [((tuple(item) if star else (item,)), {}) for item in items]
        return [self._submit(func, calls[i : i + chunksize]) for i in range(0, len(calls), chunksize)]

    # -- the multiprocessing API ------------------------------------------------------------------

    def apply(self, func: Callable[..., Any], args: Iterable[Any] | None = None, kwds: dict[str, Any] | None = None, *, kwargs: dict[str, Any] | None = None) -> Any:
        """Call ``func(*args, **kwds)`` on the cluster and return its result."""
        return self.apply_async(func, args, kwds, kwargs=kwargs).get()

    def apply_async(
        self,
        func: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwds: dict[str, Any] | None = None,
        callback: Callable[[Any], Any] | None = None,
        error_callback: Callable[[BaseException], Any] | None = None,
        *,
        kwargs: dict[str, Any] | None = None,
    ) -> AsyncResult:
        """Start ``func(*args, **kwds)`` and return an AsyncResult (``kwargs=`` as Ray spells it)."""
        self._check_running()
        chunk = self._submit(func, [(tuple(args or ()), dict(kwds or kwargs or {}))])
        return AsyncResult([chunk], True, callback, error_callback)

    def map(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None) -> list[Any]:
        """Return ``[func(x) for x in iterable]``, computed in chunks on the cluster."""
        return self.map_async(func, iterable, chunksize).get()  # type: ignore[no-any-return]

    def map_async(
        self,
        func: Callable[[Any], Any],
        iterable: Iterable[Any],
        chunksize: int | None = None,
        callback: Callable[[Any], Any] | None = None,
        error_callback: Callable[[BaseException], Any] | None = None,
    ) -> AsyncResult:
        """Start ``map`` and return an AsyncResult."""
        return AsyncResult(self._chunks(func, iterable, chunksize, False, False), False, callback, error_callback)

    def starmap(self, func: Callable[..., Any], iterable: Iterable[Iterable[Any]], chunksize: int | None = None) -> list[Any]:
        """Return ``[func(*args) for args in iterable]``."""
        return self.starmap_async(func, iterable, chunksize).get()  # type: ignore[no-any-return]

    def starmap_async(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Iterable[Any]],
        chunksize: int | None = None,
        callback: Callable[[Any], Any] | None = None,
        error_callback: Callable[[BaseException], Any] | None = None,
    ) -> AsyncResult:
        """Start ``starmap`` and return an AsyncResult."""
        return AsyncResult(self._chunks(func, iterable, chunksize, True, False), False, callback, error_callback)

    def imap(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = 1) -> IMapIterator:
        """Like ``map``, but return an iterator over the results, in input order."""
        return IMapIterator(self._chunks(func, iterable, chunksize, False, True), ordered=True)

    def imap_unordered(self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = 1) -> IMapIterator:
        """Like ``imap``, but yield each result as soon as it is ready."""
        return IMapIterator(self._chunks(func, iterable, chunksize, False, True), ordered=False)

    # -- ending ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Accept no more work; what was submitted still runs."""
        self._closed = True

    def terminate(self) -> None:
        """Stop at once: queued chunks never run and running ones are cancelled."""
        self._closed = True
        with self._lock:
            queued = list(self._queued)
            self._queued.clear()
            running = list(self._running)
        for handle, _, _ in queued:
            handle.done.set_exception(exceptions.TaskCancelledError())
            self._chunk_ended(handle)
        for handle in running:
            if handle.ref is not None:
                try:
                    _objects.cancel(handle.ref)
                except Exception:  # already finished
                    pass

    def join(self, timeout: float | None = None) -> None:
        """Wait until all submitted work has ended; call ``close()`` or ``terminate()`` first.

        Raises:
            ValueError: If the pool is still running.
        """
        if not self._closed:
            raise ValueError("Pool is still running")
        with self._idle:
            self._idle.wait_for(lambda: not self._running and not self._queued, timeout)

    def __enter__(self) -> Pool:
        self._check_running()
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()
