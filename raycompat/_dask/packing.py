"""Pickling what a task or actor call takes: the user's function and its arguments."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import cloudpickle
from dask.sizeof import sizeof
from distributed import Future

from . import dask_private, store
from .backend import Backend
from .binding import LOST, call_result, future_if_stored, materialize
from .protocol import Dep, ErrorValue
from .refs import ObjectRef, pickling


_SMALL = frozenset({int, float, bool, type(None), complex})  # never large: no need to measure


def function_blob(fn: Any) -> tuple[str, bytes]:
    """Pickle a user function (or class) once; workers cache it by id."""
    blob = dask_private.dumps_keeping_filenames(fn)
    return hashlib.sha1(blob).hexdigest(), blob


def pack_args(
    backend: Backend,
    fn_name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    resolve_top: bool = True,
) -> tuple[bytes, list[Future], list[ObjectRef[Any]]]:
    """Pickle the arguments; return (blob, Dask dependencies, ObjectRefs nested inside).

    Top-level ObjectRefs are replaced by their values: by Dask, as dependencies resolved before
    the task runs (``resolve_top``), or else by the receiver, which ``get()``s them (actors).
    ObjectRefs nested inside other values are pickled as ObjectRefs, as Ray passes them. A large
    argument passed by value is ``put()`` first and passed as its ref, as Ray does: it never
    travels inside the task itself.
    """
    deps: list[Future] = []

    def top(value: Any) -> Any:
        if not isinstance(value, ObjectRef):
            if type(value) in _SMALL or sizeof(value) <= store.INLINE_LIMIT:
                return value
            value = store.put(backend, value)
        if value._call is not None and value._call.done():
            error = value._call.exception()
            if error is not None:  # a failed actor call: the receiver re-raises its error
                return ErrorValue(error)
            call_result(value)
            if value._has_value:  # a small actor result, maybe not yet known to the scheduler
                return value._value
        if value._has_value and value._future is None:  # small and held here: it travels inline
            return value._value
        if value._has_value and value._future.status in LOST:
            materialize(backend, value)  # its worker died: store the held value again
        future = future_if_stored(value)
        if future is None or not resolve_top:  # the receiver will get() it
            return value
        deps.append(future)
        return Dep(len(deps) - 1)

    packed_args = tuple(top(a) for a in args)
    packed_kwargs = {k: top(v) for k, v in kwargs.items()}
    nested: list[ObjectRef[Any]] = []
    pickling.refs, pickling.backend = nested, backend
    try:
        blob = cloudpickle.dumps((packed_args, packed_kwargs))
    except Exception as exc:
        raise TypeError(_unpicklable_message(fn_name, args, kwargs, exc)) from None
    finally:
        pickling.refs, pickling.backend = None, None
    return blob, deps, nested


def _unpicklable_message(fn_name: str, args: Sequence[Any], kwargs: dict[str, Any], exc: Exception) -> str:
    culprit = "an argument"
    labelled = [*((f"argument {i}", a) for i, a in enumerate(args)), *((f"argument {k!r}", v) for k, v in kwargs.items())]
    for label, value in labelled:
        try:
            cloudpickle.dumps(value)
        except Exception:
            culprit = f"{label} ({type(value).__name__}: {value!r:.80})"
            break
    return (
        f"Could not serialize {culprit} of {fn_name}(): {exc}. Arguments must be picklable; "
        "create locks, sockets and open files inside the task instead."
    )
