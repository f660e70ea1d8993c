"""ObjectRef, the record behind every Ray object, and how it is read and pickled.

An ObjectRef names a Dask key. Behind it is one of: a Dask future (a task's result, or a value
stored in the cluster), a value held in this process (a small ``put``, or an actor call's
result that rode back in the reply), or an actor call still in flight (``_call``). Pickling a
ref sends only its key, after making sure its value is in the cluster; unpickling binds it to
the current backend's client.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, Generator, Generic, TypeVar

from distributed import Future

from . import backend as backends
from . import binding, fetch, task_context
from .backend import Backend
from .completions import wait_futures

T = TypeVar("T")

KEEPALIVE_SECONDS = 60.0


class ObjectRef(Generic[T]):
    """A handle to a value being computed or stored in the cluster; read it with ``get()``.

    ObjectRefs are hashable, compare by identity of the object they name, pickle (so they can be
    passed to tasks and actors, nested in other values or returned), and can be awaited.

    Dask note: behind an ObjectRef is a Dask future whose key is named after the function that
    produced it (``square-3f2a...``). Small values from ``put()`` stay in the driver until a
    worker needs them.
    """

    __slots__ = ("_key", "_future", "_value", "_has_value", "_call", "_watched", "__weakref__")

    def __init__(self, key: str, future: Future | None = None) -> None:
        self._key = key
        self._future = future  # the Dask future, once the value lives in the cluster
        self._value: Any = None  # the value, when this process holds it
        self._has_value = False
        self._call: concurrent.futures.Future[Any] | None = None  # an actor call in flight
        self._watched = False  # the wait engine watches it

    def hex(self) -> str:
        """Return the ID as 56 hex digits, as Ray does."""
        return hashlib.sha256(self._key.encode()).hexdigest()[:56]

    def binary(self) -> bytes:
        return bytes.fromhex(self.hex())

    def task_id(self) -> str:
        """The Dask key of the task (or put) that made this object."""
        return self._key

    def is_nil(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"ObjectRef({self.hex()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)  # the key's hash is cached by Python: wait() hashes every ref

    def __reduce__(self) -> Any:
        return reduce_ref(self)

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.wrap_future(self.future()).__await__()

    def future(self) -> concurrent.futures.Future[T]:
        """Return a ``concurrent.futures.Future`` that resolves to the value (or the error)."""
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def read() -> None:
            try:
                result.set_result(fetch.get(backends.current(), [self], None)[0])
            except BaseException as exc:  # noqa: BLE001 - the error belongs to the future
                result.set_exception(exc)

        threading.Thread(target=read, name="raycompat-ref-future", daemon=True).start()
        return result

    def __bool__(self) -> bool:
        return True


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


# -- pickling ----------------------------------------------------------------------------------


class _Pickling(threading.local):
    """Set while ``packing.pack_args`` pickles a task's arguments."""

    refs: list[ObjectRef[Any]] | None = None  # collects the refs nested in the arguments
    backend: Backend | None = None


pickling = _Pickling()
_keepalive: collections.deque[tuple[float, Future]] = collections.deque()


def reduce_ref(ref: ObjectRef[Any]) -> tuple[Any, tuple[Any, ...]]:
    """Pickle an ObjectRef as its key, making sure its value is in the cluster first."""
    if pickling.refs is not None:
        pickling.refs.append(ref)
    if ref._call is not None:
        # An actor result: small ones and errors came back in the reply only, so they are
        # stored in the cluster now that the ref leaves this process.
        wait_futures([ref._call])
        error = ref._call.exception()
        if error is not None and ref._future is None:
            binding.store_error(_pickling_backend(), ref, error)
        elif error is None:
            binding.call_result(ref)
            if ref._future is None:
                binding.materialize(_pickling_backend(), ref)
    elif ref._has_value and ref._future is None:
        binding.materialize(_pickling_backend(), ref)
    worker = task_context.this_worker()
    if ref._future is not None and worker is not None:
        _keep_alive(ref._future)
        if pickling.refs is None and not backends.on_event_loop(worker):
            _wait_until_known(ref._future)  # it leaves in a result or a put: another client will want it
    return rebuild_ref, (ref._future.key if ref._future is not None else ref._key,)


def _pickling_backend() -> Backend:
    return pickling.backend or backends.current()


def _keep_alive(future: Future) -> None:
    """Hold a Dask future for a while after its ObjectRef was pickled in a worker.

    A task that returns an ObjectRef drops its own Future when it ends; the receiver registers
    its interest a moment later. Holding the Future for a minute bridges that gap.
    """
    now = time.monotonic()
    _keepalive.append((now, future))
    while _keepalive and _keepalive[0][0] < now - KEEPALIVE_SECONDS:
        _keepalive.popleft()


def _wait_until_known(future: Future) -> None:
    """Wait until the scheduler knows a key this process has just submitted.

    A task that returns a fresh ObjectRef sends its result and the submission over different
    connections; without this wait the driver could ask for the key before the scheduler has it,
    and Dask would ignore the request.
    """
    if future.status != "pending":
        return  # the scheduler has reported on it, so it knows it
    client, key = future.client, future.key

    async def known() -> None:
        while (await client.scheduler.get_task_status(keys=[key])).get(key) is None:
            await asyncio.sleep(0.005)

    client.sync(known)


def rebuild_ref(key: str) -> ObjectRef[Any]:
    """Unpickle an ObjectRef in any process: bind it to this process's client."""
    ref: ObjectRef[Any] = ObjectRef(key)
    backend = backends.current_or_none()
    if backend is not None:
        binding.bind(ref, backend)
    return ref


