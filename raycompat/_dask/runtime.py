"""What runs inside worker processes: the task wrapper, output forwarding and cancellation.

Every Ray task becomes one Dask task whose function is ``run_task``. It unpacks the user's
function and arguments (pickled by the driver, so Dask never looks inside them and nested
ObjectRefs stay ObjectRefs), runs the function with ``print`` forwarded to the driver, and turns
an exception into a ``RayTaskError`` that carries the original one.
"""

from __future__ import annotations

import ctypes
import io
import os
import pickle
import socket
import sys
import threading
import traceback
from typing import Any

import cloudpickle

from .. import _alias, exceptions
from . import backend as backends, dask_private, fetch, task_context
from .refs import ObjectRef
from .protocol import CRASHES, OUTPUT_TOPIC, Dep, ErrorValue, Pickled, TaskSpec, loaded
from .task_context import TaskContext

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
        if not isinstance(sys.stdout, _TaskStream):
            sys.stdout = _TaskStream(sys.stdout, "stdout")
            sys.stderr = _TaskStream(sys.stderr, "stderr")


def ensure_setup() -> Any:
    """Set up on first use: workers started by a plain ``dask worker`` meet raycompat here."""
    from distributed import get_worker

    worker = get_worker()
    if task_context.this_worker() is not worker:
        setup_worker(worker)
    return worker


# -- output forwarding -------------------------------------------------------------------------


class _TaskStream(io.TextIOBase):
    """sys.stdout/stderr of a worker: lines a task writes go to its driver, the rest pass through."""

    def __init__(self, real: Any, stream: str) -> None:
        self._real = real
        self._stream = stream
        self._buffers = threading.local()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._real, "encoding", "utf-8")

    def fileno(self) -> int:
        return int(self._real.fileno())

    def write(self, text: str) -> int:
        context = task_context.current()
        if context.job_id is None or not context.log_to_driver or task_context.this_worker() is None:
            return int(self._real.write(text))
        pending = getattr(self._buffers, "text", "") + text
        *lines, rest = pending.split("\n")
        self._buffers.text = rest
        if lines:
            self._emit(lines)
        return len(text)

    def flush(self) -> None:
        rest = getattr(self._buffers, "text", "")
        if rest and task_context.current().job_id is not None:
            self._buffers.text = ""
            self._emit([rest])
        self._real.flush()

    def _emit(self, lines: list[str]) -> None:
        context = task_context.current()
        prefix = context.actor.class_name if context.actor is not None else context.name
        msg = {
            "job": context.job_id,
            "stream": self._stream,
            "prefix": f"({prefix} pid={os.getpid()})",
            "lines": lines,
        }
        try:
            task_context.this_worker().log_event(OUTPUT_TOPIC, msg)
        except Exception:  # the worker is closing: print locally rather than lose the line
            self._real.write("\n".join(lines) + "\n")


def flush_task_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _TaskStream):
            stream.flush()


# -- the task wrapper --------------------------------------------------------------------------


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
            if not isinstance(value, ErrorValue):
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


def current_key() -> str | None:
    return dask_private.running_task_key()


def run_task(spec_blob: bytes, *deps: Any) -> Any:
    """Run one Ray task inside a Dask worker thread.

    The spec arrives pickled: the scheduler keeps one bytes object per task instead of the
    unpickled spec, which is most of its memory per task.
    """
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
            return _run_with_retries(spec, deps)
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


def _crashes_so_far(key: str | None) -> int:
    """How often a worker died while running this task (counted by the scheduler extension)."""
    worker = task_context.this_worker()
    if key is None or worker is None:
        return 0
    ts = worker.state.tasks.get(key)
    annotations = getattr(ts, "annotations", None) or {}
    return int(annotations.get(CRASHES, 0))


def _run_with_retries(spec: TaskSpec, deps: tuple[Any, ...]) -> Any:
    crashes = _crashes_so_far(current_key())
    if crashes and spec.max_retries != -1 and crashes > spec.max_retries:
        raise exceptions.WorkerCrashedError(
            f"The worker running task {spec.name!r} died {crashes} time(s), more than its "
            f"max_retries={spec.max_retries}. Raise max_retries, or see why the worker died "
            "(memory, a crash in native code, os._exit)."
        )
    fn = load_function(spec.fn_id, spec.fn_blob)
    attempt = 0
    while True:
        try:
            # Unpacked for each attempt: a retry must not see what the failed one changed.
            args, kwargs = unpack_args(spec.args_blob, deps)
        except exceptions.RayError:
            raise  # a failed dependency: re-raise its error as it is, as Ray does
        retries_left = spec.max_retries == -1 or attempt < spec.max_retries
        try:
            result = fn(*args, **kwargs)
            if spec.generator is not None:  # each yielded value becomes a key of its own
                from . import generators

                return generators.drain(spec, result)
            return check_result(spec.name, result, spec.num_returns)
        except exceptions.TaskCancelledError:
            raise
        except SystemExit:  # Ray's worker process exits: a crash, retried up to max_retries
            if retries_left:
                attempt += 1
                continue
            raise exceptions.WorkerCrashedError(
                f"The worker running task {spec.name!r} exited (sys.exit()) {attempt + 1} time(s), "
                f"more than its max_retries={spec.max_retries}."
            ) from None
        except KeyboardInterrupt:  # Ray reports an interrupted task as cancelled
            raise exceptions.TaskCancelledError(current_key()) from None
        except BaseException as exc:  # noqa: BLE001 - any user error becomes a RayTaskError
            if _is_cancel(exc):
                raise exceptions.TaskCancelledError(current_key()) from None
            if retries_left and _should_retry(spec.retry_exceptions, exc):
                attempt += 1  # also a failed nested task: Ray retries the task that called get()
                continue
            if isinstance(exc, exceptions.RayTaskError):
                raise
            raise wrap_exception(spec.name, exc) from None


def _should_retry(retry_exceptions: bool | tuple[type[BaseException], ...], exc: BaseException) -> bool:
    if isinstance(retry_exceptions, tuple):
        return isinstance(exc, retry_exceptions)
    return bool(retry_exceptions) and isinstance(exc, Exception)


_PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes)


def check_result(name: str, result: Any, num_returns: int) -> Any:
    """Check the return value now, in the task, where an error can still name the task."""
    if num_returns > 1:
        if not isinstance(result, (tuple, list)) or len(result) != num_returns:
            got = len(result) if isinstance(result, (tuple, list)) else "a non-sequence"
            raise ValueError(
                f"Task {name!r} returned {got} objects, but num_returns={num_returns}. "
                f"Return a tuple of {num_returns} values, or change num_returns."
            )
    if type(result) in _PLAIN_TYPES:
        return result
    try:
        cloudpickle.dumps(result, protocol=5, buffer_callback=lambda buf: None)
    except Exception as exc:
        raise TypeError(
            f"Could not serialize the return value of {name!r}: {exc}. Return only picklable "
            f"values (no locks, sockets or open files)."
        ) from exc
    return result


_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_traceback(exc: BaseException) -> str:
    """Format ``exc`` as Ray does: the user's frames only, without the "Traceback" header."""
    tb = exc.__traceback__
    while tb is not None and os.path.dirname(os.path.abspath(tb.tb_frame.f_code.co_filename)) == _ENGINE_DIR:
        tb = tb.tb_next  # our task wrapper's frames
    lines = traceback.format_exception(type(exc), exc, tb)
    if lines and lines[0].startswith("Traceback (most recent call last)"):
        lines = lines[1:]
    return "".join(lines)


def wrap_exception(name: str, exc: BaseException, actor_repr: str | None = None) -> exceptions.RayTaskError:
    """Turn a user exception into a picklable RayTaskError that remembers it."""
    tb = user_traceback(exc)
    cause: BaseException | None = exc
    try:
        pickle.loads(cloudpickle.dumps(exc))
    except Exception:
        cause = None  # cannot cross processes: keep the text only
    return exceptions.RayTaskError(
        name,
        tb,
        cause,
        pid=os.getpid(),
        ip=_ip(),
        actor_repr=actor_repr,
    )


def _ip() -> str:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def getitem(result: Any, index: int) -> Any:
    """One of a task's ``num_returns`` results."""
    return result[index]


# -- cancellation ------------------------------------------------------------------------------


def _is_cancel(exc: BaseException) -> bool:
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
