"""The task wrapper: what a Dask worker runs for each Ray task, and cancelling it.

Every Ray task becomes one Dask task whose function is ``run_task`` (``run_generator_task`` in
generators.py for a generator). It unpacks the user's function and arguments (pickled by the
driver, so Dask never looks inside them and nested ObjectRefs stay ObjectRefs) and runs the
function in the loop of calls.py, which retries it and turns an exception into a Ray error.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

import cloudpickle

from ... import _alias, exceptions
from .. import backend as backends
from .. import dask_private, fetch, task_context
from ..protocol import CRASHES, Dep, ErrorValue, Pickled, TaskSpec, loaded
from ..refs import ObjectRef
from ..shared_memory import Shared
from ..task_context import TaskContext
from . import calls
from .output import TaskStream, flush_task_output

_functions: dict[str, Any] = {}
_running: dict[str, int] = {}  # task key -> thread ident, for cancel()
_cancelled: set[str] = set()
_setup_lock = threading.Lock()


# -- set-up ------------------------------------------------------------------------------------


def setup_worker(worker: Any) -> None:
    """Prepare this process: the ``ray`` alias and output forwarding."""
    with _setup_lock:
        if task_context.this_worker() is worker:
            return
        task_context.set_worker(worker)
        _alias.install_as_ray()
        dask_private.shorten_worker_batching(worker)
        if not isinstance(sys.stdout, TaskStream):
            sys.stdout = TaskStream(sys.stdout, "stdout")
            sys.stderr = TaskStream(sys.stderr, "stderr")


def ensure_setup() -> Any:
    """Set up on first use: workers started by a plain ``dask worker`` meet raycompat here."""
    from distributed import get_worker

    worker = get_worker()
    if task_context.this_worker() is not worker:
        setup_worker(worker)
    return worker


# -- arguments ---------------------------------------------------------------------------------


def load_function(fn_id: str, fn_blob: bytes) -> Any:
    fn = _functions.get(fn_id)
    if fn is None:
        fn = _functions[fn_id] = cloudpickle.loads(fn_blob)
    return fn


def unpack_args(args_blob: bytes, deps: tuple[Any, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Rebuild (args, kwargs), putting resolved dependencies in place of their placeholders."""
    args, kwargs = cloudpickle.loads(args_blob)

    def resolve(value: Any) -> Any:
        if isinstance(value, Pickled):
            value = loaded(value)
        if isinstance(value, Dep):
            value = deps[value.index]
            if isinstance(value, Shared):
                value = value.load()  # mapped read-only: nothing to protect
            elif not isinstance(value, ErrorValue):
                value = private_copy(value)  # the worker's stored object stays as it was
        elif isinstance(value, ObjectRef):  # an actor result not yet stored when the task was sent
            value = fetch.get(backends.current(), [value], None)[0]
        if isinstance(value, ErrorValue):
            raise value.error
        return value

    return tuple(resolve(a) for a in args), {k: resolve(v) for k, v in kwargs.items()}


_IMMUTABLE = (int, float, complex, str, bytes, bool, range, frozenset, type(None))


def private_copy(value: Any) -> Any:
    """The task's own copy of a value that the worker holds, as Ray gives each task its own.

    Tasks on one Dask worker would otherwise share the stored object, and a task that changed
    it would change it for every later reader. numpy arrays become read-only views (no copy,
    as Ray's are read-only); other mutable values are copied through pickle.
    """
    if isinstance(value, _IMMUTABLE) or (type(value) is tuple and all(isinstance(v, _IMMUTABLE) for v in value)):
        return value
    numpy = sys.modules.get("numpy")
    if numpy is not None and type(value) is numpy.ndarray:
        view = value.view()
        view.flags.writeable = False
        return view
    try:
        return pickle.loads(cloudpickle.dumps(value, protocol=5))
    except Exception:  # not picklable: it could not have crossed processes in Ray either
        return value


# -- the task wrapper --------------------------------------------------------------------------


def current_key() -> str | None:
    return dask_private.running_task_key()


def run_task(spec_blob: bytes, *deps: Any) -> Any:
    """Run one Ray task inside a Dask worker thread.

    The spec arrives pickled: the scheduler keeps one bytes object per task instead of the
    unpickled spec, which is most of its memory per task.
    """
    return run(spec_blob, deps)


def run(spec_blob: bytes, deps: tuple[Any, ...], finish: Callable[[TaskSpec, Any], Any] | None = None) -> Any:
    """The body of ``run_task``; ``finish(spec, result)``, if given, makes the task's value."""
    ensure_setup()  # first: the spec may name the ray alias's modules
    spec: TaskSpec = pickle.loads(spec_blob)
    key = current_key()
    context = TaskContext(
        job_id=spec.job_id, name=spec.name, key=key, log_to_driver=spec.log_to_driver, namespace=spec.namespace
    )
    env_before = {name: os.environ.get(name) for name in spec.env_vars}
    os.environ.update(spec.env_vars)
    if key is not None:
        _running[key] = threading.get_ident()
    try:
        if key in _cancelled:  # cancel() reached this worker before the task started
            raise exceptions.TaskCancelledError(key)
        with task_context.running(context):
            _check_crashes(spec, key)
            call = calls.Call(
                spec.name, num_returns=spec.num_returns, max_retries=spec.max_retries, retry_exceptions=spec.retry_exceptions
            )
            fn = load_function(spec.fn_id, spec.fn_blob)
            return calls.run(
                call,
                fn,
                lambda: unpack_args(spec.args_blob, deps),
                None if finish is None else lambda result: finish(spec, result),
            )
    finally:
        flush_task_output()
        if key is not None:
            _running.pop(key, None)
            _cancelled.discard(key)
        for name, value in env_before.items():  # the task's env_vars must not leak into the next task
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_crashes(spec: TaskSpec, key: str | None) -> None:
    """Fail the task when workers died running it more often than its max_retries allows."""
    crashes = _crashes_so_far(key)
    if crashes and spec.max_retries != -1 and crashes > spec.max_retries:
        raise exceptions.WorkerCrashedError(
            f"The worker running task {spec.name!r} died {crashes} time(s), more than its "
            f"max_retries={spec.max_retries}. Raise max_retries, or see why the worker died "
            "(memory, a crash in native code, os._exit)."
        )


def _crashes_so_far(key: str | None) -> int:
    """How often a worker died while running this task (counted by the scheduler extension)."""
    worker = task_context.this_worker()
    if key is None or worker is None:
        return 0
    ts = dask_private.worker_task(worker, key)
    annotations = getattr(ts, "annotations", None) or {}
    return int(annotations.get(CRASHES, 0))


def getitem(result: Any, index: int) -> Any:
    """One of a task's ``num_returns`` results."""
    return result[index]


# -- cancellation ------------------------------------------------------------------------------


def is_cancel(exc: BaseException) -> bool:
    """Whether ``exc`` is the KeyboardInterrupt that ``ray.cancel()`` raised in the running task."""
    return isinstance(exc, KeyboardInterrupt) and current_key() in _cancelled


def is_cancelled(key: str) -> bool:
    """Whether ``ray.cancel()`` reached this worker for the task ``key``."""
    return key in _cancelled


def interrupt(keys: list[str], force: bool) -> list[str]:
    """Stop the running tasks among ``keys`` in this worker (``client.run`` target).

    Keys not running yet are remembered, so that a task queued here never starts.
    """
    _cancelled.update(keys)
    hit = [k for k in keys if k in _running]
    if hit and force:
        # Ray kills the worker process; the supervisor or nanny starts a new one. Exit just
        # after replying, so the scheduler's broadcast does not log a broken connection.
        threading.Timer(0.05, os._exit, (1,)).start()
        return hit
    for key in hit:
        ident = _running.get(key)
        if ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
            )
    return hit
