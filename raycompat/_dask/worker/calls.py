"""Running one user call as Ray does: retried by Ray's rules, ended by the right Ray error.

Tasks, synchronous actor methods and async actor methods all run the user's code in the one
loop of ``attempts``::

    for attempt in attempts(call):
        args, kwargs = unpack()  # again for each try: a retry must not see what the failed one changed
        with attempt:  # an exception here goes to outcome(): run again, or raise what Ray raises
            return finish(fn(*args, **kwargs))

``run`` is that loop for synchronous code; an async actor method writes the same lines with
``await``. ``outcome`` holds Ray's rules: which failures run the call again, and which Ray error
a failure becomes.
"""

from __future__ import annotations

import os
import pickle
import socket
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import cloudpickle

from ... import exceptions
from .. import dask_private
from ..protocol import ActorExit


@dataclass(frozen=True)
class Call:
    """One call of the user's code: its name for errors, and how often Ray runs it again."""

    name: str  # the function name, or Class.method
    num_returns: int = 1
    max_retries: int = 0  # for a task, -1 runs it again without limit
    retry_exceptions: bool | tuple[type[BaseException], ...] = False
    actor_repr: str | None = None  # set for an actor method: the actor's rules apply


class Exiting(Exception):
    """A method called ``exit_actor()`` or ``sys.exit()``; carried as an ordinary exception,
    which an event loop passes on (it stops on SystemExit)."""


def outcome(call: Call, exc: BaseException, attempt: int) -> BaseException | None:
    """What ``call`` raises after ``exc`` ended its try number ``attempt`` (from 0); None: try again.

    In a task, sys.exit() is a crash of Ray's worker process, retried up to max_retries, and
    KeyboardInterrupt means cancelled. In an actor, sys.exit() and exit_actor() end the actor,
    and a Ray error (a failed nested call or argument) is raised as it is. Anything else is
    retried when retry_exceptions allows, then raised as a RayTaskError.
    """
    in_actor = call.actor_repr is not None
    if isinstance(exc, exceptions.TaskCancelledError) or (in_actor and isinstance(exc, exceptions.RayError)):
        return exc
    if in_actor and isinstance(exc, (SystemExit, ActorExit)):
        return Exiting("sys.exit()" if isinstance(exc, SystemExit) else "exit_actor()")
    if not in_actor and isinstance(exc, KeyboardInterrupt):  # Ray reports an interrupted task as cancelled
        return exceptions.TaskCancelledError(dask_private.running_task_key())
    retries_left = call.max_retries == -1 or attempt < call.max_retries  # -1: without limit, as in Ray
    if isinstance(exc, SystemExit):
        if retries_left:
            return None
        return exceptions.WorkerCrashedError(
            f"The worker running task {call.name!r} exited (sys.exit()) {attempt + 1} time(s), "
            f"more than its max_retries={call.max_retries}."
        )
    if retries_left and should_retry(call.retry_exceptions, exc):
        return None  # also a failed nested task: Ray retries the task that called get()
    if isinstance(exc, exceptions.RayTaskError):
        return exc
    return wrap_exception(call.name, exc, call.actor_repr)


def should_retry(retry_exceptions: bool | tuple[type[BaseException], ...], exc: BaseException) -> bool:
    if isinstance(retry_exceptions, tuple):
        return isinstance(exc, retry_exceptions)
    return bool(retry_exceptions) and isinstance(exc, Exception)


class Attempt:
    """One try of a call. Its ``with`` block hands an exception to ``outcome``: the exception is
    swallowed when the call runs again, and otherwise replaced by the error Ray raises."""

    def __init__(self, call: Call, number: int) -> None:
        self.call = call
        self.number = number
        self.again = False

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        if exc is None:
            return False
        error = outcome(self.call, exc, self.number)
        if error is None:
            self.again = True
            return True
        if error is exc:
            return False
        raise error from None


def attempts(call: Call) -> Iterator[Attempt]:
    """The tries of ``call``, one after another, until one returns or raises: Ray's retry loop."""
    number = 0
    while True:
        attempt = Attempt(call, number)
        yield attempt
        if not attempt.again:
            return
        number += 1


def run(
    call: Call,
    fn: Callable[..., Any],
    unpack: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]],
    finish: Callable[[Any], Any] | None = None,
) -> Any:
    """Call ``fn`` with the arguments ``unpack()`` gives; return ``finish`` of its result.

    ``finish`` defaults to ``check_result``. An error while unpacking is raised as it is (a
    failed dependency already carries its Ray error).
    """
    for attempt in attempts(call):
        args, kwargs = unpack()
        with attempt:
            result = fn(*args, **kwargs)
            return finish(result) if finish is not None else check_result(call.name, result, call.num_returns)
    raise AssertionError("unreachable: each try returns or raises")


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


# raycompat's backend, worker code included: its frames are not the user's.
_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_traceback(exc: BaseException) -> str:
    """Format ``exc`` as Ray does: the user's frames only, without the "Traceback" header."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_ENGINE_DIR):
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
