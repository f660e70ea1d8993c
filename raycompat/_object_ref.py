"""ObjectRef: a handle to a value being computed or stored in the cluster."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import threading
from typing import Any, Generator, Generic, TypeVar

T = TypeVar("T")


class ObjectRef(Generic[T]):
    """A handle to a value being computed or stored in the cluster; read it with ``get()``.

    ObjectRefs are hashable, compare by identity of the object they name, pickle (so they can be
    passed to tasks and actors, nested in other values or returned), and can be awaited.

    Dask note: behind an ObjectRef is a Dask future whose key is named after the function that
    produced it (``square-3f2a...``). Small values from ``put()`` stay in the driver until a
    worker needs them.
    """

    __slots__ = ("_key", "_future", "_value", "_has_value", "_call", "_watched", "__weakref__")

    def __init__(self, key: str, future: Any = None) -> None:
        self._key = key
        self._future = future  # the Dask future, once the value lives in the cluster
        self._value: Any = None  # the value, when this process holds it
        self._has_value = False
        self._call: concurrent.futures.Future[Any] | None = None  # an actor call in flight
        self._watched = False  # wait() has a done-callback on it

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
        from ._dask import driver

        return driver.reduce_ref(self)

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.wrap_future(self.future()).__await__()

    def future(self) -> concurrent.futures.Future[T]:
        """Return a ``concurrent.futures.Future`` that resolves to the value (or the error)."""
        from ._objects import get

        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def fetch() -> None:
            try:
                result.set_result(get(self))
            except BaseException as exc:  # noqa: BLE001 - the error belongs to the future
                result.set_exception(exc)

        threading.Thread(target=fetch, name="raycompat-ref-future", daemon=True).start()
        return result

    def __bool__(self) -> bool:
        return True
