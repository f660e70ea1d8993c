"""Ray's exception names and hierarchy (``ray.exceptions``).

The tree, as in Ray::

    Exception
    ├── RayError
    │   ├── RayTaskError ............ a task or actor method raised; also an instance of the cause's class
    │   ├── TaskCancelledError ...... ray.cancel() stopped the task
    │   ├── GetTimeoutError ......... ray.get(timeout=...) ran out (also a TimeoutError)
    │   ├── WorkerCrashedError ...... the process running the task died
    │   ├── RayActorError
    │   │   ├── ActorDiedError ...... the actor is dead: killed, crashed or its __init__ failed
    │   │   └── ActorUnavailableError the actor is restarting; the call may not have run
    │   ├── ActorAlreadyExistsError . the actor name is taken (also a ValueError)
    │   ├── ObjectLostError ......... the object's data is gone
    │   │   ├── OwnerDiedError
    │   │   └── ObjectFetchTimedOutError
    │   ├── RaySystemError
    │   ├── RuntimeEnvSetupError
    │   ├── TaskUnschedulableError
    │   ├── ActorUnschedulableError
    │   ├── ObjectStoreFullError
    │   └── OutOfMemoryError
    └── (PendingCallsLimitExceeded, AsyncioActorExit, ...: raised by Ray internals, kept for imports)

Every exception pickles: all state goes through ``__init__`` arguments, because errors cross processes.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = [
    "ActorAlreadyExistsError",
    "ActorDiedError",
    "ActorPlacementGroupRemoved",
    "ActorUnavailableError",
    "ActorUnschedulableError",
    "AsyncioActorExit",
    "CrossLanguageError",
    "GetTimeoutError",
    "LocalRayletDiedError",
    "NodeDiedError",
    "ObjectFetchTimedOutError",
    "ObjectFreedError",
    "ObjectLostError",
    "ObjectReconstructionFailedError",
    "ObjectReconstructionFailedLineageEvictedError",
    "ObjectReconstructionFailedMaxAttemptsExceededError",
    "ObjectStoreFullError",
    "OutOfDiskError",
    "OutOfMemoryError",
    "OwnerDiedError",
    "PendingCallsLimitExceeded",
    "RayActorError",
    "RayError",
    "RaySystemError",
    "RayTaskError",
    "ReferenceCountingAssertionError",
    "RuntimeEnvSetupError",
    "TaskCancelledError",
    "TaskPlacementGroupRemoved",
    "TaskUnschedulableError",
    "UnserializableException",
    "WorkerCrashedError",
]


class RayError(Exception):
    """Super class of all raycompat (and Ray) exception types."""


class RaySystemError(RayError):
    """The system failed in a way that is not the task's fault."""


class GetTimeoutError(RayError, TimeoutError):
    """``get()`` or ``wait()`` timed out."""


class TaskCancelledError(RayError):
    """The task was cancelled with ``cancel()`` before it could finish."""

    def __init__(self, task_id: str | None = None, error_message: str | None = None) -> None:
        super().__init__(task_id, error_message)
        self.task_id = task_id
        self.error_message = error_message

    def __str__(self) -> str:
        if self.error_message:
            return self.error_message
        return f"Task: {self.task_id} was cancelled." if self.task_id else "This task was cancelled."


class WorkerCrashedError(RayError):
    """The worker process running the task died unexpectedly."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else (
            "The worker died unexpectedly while executing this task. Check the worker's log "
            "(the Dask dashboard's 'Workers' page) for why, or raise max_retries."
        )


class RayActorError(RayError):
    """An actor cannot run the method: it died, or cannot be reached."""

    def __init__(self, message: str = "The actor died unexpectedly before finishing this task.") -> None:
        super().__init__(message)
        self.error_msg = message

    def __str__(self) -> str:
        return self.error_msg


class ActorDiedError(RayActorError):
    """The actor is dead: killed, crashed, or its constructor raised."""


class ActorUnavailableError(RayActorError):
    """The actor is restarting or unreachable; the call may or may not have run."""


class ActorAlreadyExistsError(RayError, ValueError):
    """An actor with this name already exists in the namespace."""


class ObjectLostError(RayError):
    """The object's value is gone from the cluster and cannot be rebuilt.

    Takes Ray's ``(object_ref_hex, owner_address, call_site)``; ``message`` replaces the text.
    """

    def __init__(self, object_ref_hex: str = "", owner_address: str = "", call_site: str = "", message: str = "") -> None:
        super().__init__(object_ref_hex, owner_address, call_site, message)
        self.object_ref_hex = object_ref_hex
        self.owner_address = owner_address
        self.call_site = call_site
        self.message = message

    def __str__(self) -> str:
        return self.message or f"Failed to retrieve object {self.object_ref_hex}: its value is lost."


class ObjectFreedError(ObjectLostError):
    """The object was freed explicitly."""


class ObjectReconstructionFailedError(ObjectLostError):
    """The object was lost and the task that made it could not run again."""


class ObjectReconstructionFailedMaxAttemptsExceededError(ObjectLostError):
    """The object was lost and its task ran out of retries."""


class ObjectReconstructionFailedLineageEvictedError(ObjectLostError):
    """The object was lost and how to make it again was no longer known."""


class ReferenceCountingAssertionError(ObjectLostError):
    """The object was released while a reference to it remained."""


class OwnerDiedError(ObjectLostError):
    """The process that owned the object died."""


class ObjectFetchTimedOutError(ObjectLostError):
    """Fetching the object from another process timed out."""


class RuntimeEnvSetupError(RayError):
    """The ``runtime_env`` could not be set up on a worker."""


class TaskUnschedulableError(RayError):
    """No worker can ever run this task."""


class ActorUnschedulableError(RayError):
    """No worker can ever host this actor."""


class ObjectStoreFullError(RayError):
    """The cluster ran out of memory for objects."""


class OutOfMemoryError(RayError):
    """A worker ran out of memory."""


class PendingCallsLimitExceeded(RayError):
    """Too many calls are queued on the actor."""


class AsyncioActorExit(RayError):
    """Raised inside an async actor to make it exit."""


class NodeDiedError(RayError):
    """The node running the task or actor died."""


class LocalRayletDiedError(RayError):
    """The process managing this node died."""


class OutOfDiskError(RayError):
    """A node ran out of disk space for objects."""


class CrossLanguageError(RayError):
    """A call between languages failed (raycompat runs Python only)."""


class TaskPlacementGroupRemoved(RayError):
    """The placement group of the task was removed."""


class ActorPlacementGroupRemoved(RayError):
    """The placement group of the actor was removed."""


class UnserializableException(RayError):
    """Stands for a task's exception that could not be pickled; its text is kept."""

    def __init__(self, original_stack_trace: str = "") -> None:
        super().__init__(original_stack_trace)
        self.original_stack_trace = original_stack_trace

    def __str__(self) -> str:
        return (
            "Failed to deserialize the exception raised by the task; its original traceback was:\n"
            + self.original_stack_trace
        )


class RayTaskError(RayError):
    """A task or actor method raised an exception.

    ``get()`` raises an instance of a class that derives from both RayTaskError and the class of
    the original exception (``cause``), so ``except ValueError`` keeps working.
    """

    def __init__(
        self,
        function_name: str,
        traceback_str: str,
        cause: BaseException | None,
        proctitle: str | None = None,
        pid: int | None = None,
        ip: str | None = None,
        actor_repr: str | None = None,
    ) -> None:
        # Not super(): in a class that also derives from the cause's class, that would call the
        # user's __init__ with our arguments.
        Exception.__init__(self, function_name, traceback_str, cause, proctitle, pid, ip, actor_repr)
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause
        self.proctitle = proctitle or f"ray::{function_name}()"
        self.pid = pid
        self.ip = ip
        self.actor_repr = actor_repr

    def __str__(self) -> str:
        where = f"{self.proctitle} (pid={self.pid}, ip={self.ip}"
        where += f", actor_repr={self.actor_repr})" if self.actor_repr else ")"
        body = self.traceback_str.rstrip("\n")
        return f"{where}\n{body}" if body else where

    def __reduce__(self) -> Any:
        return (
            _rebuild_task_error,
            (
                self.function_name,
                self.traceback_str,
                self.cause,
                self.proctitle,
                self.pid,
                self.ip,
                self.actor_repr,
            ),
        )

    def as_instanceof_cause(self) -> RayTaskError:
        """Return a copy whose class also derives from the cause's class.

        The copy carries the cause's attributes, so ``err.code`` works as it did in the task.
        """
        cause = self.cause
        if cause is None or isinstance(cause, RayTaskError):
            return cause if isinstance(cause, RayTaskError) else self
        cls = _dual_class(type(cause))
        if cls is None:
            return self
        err = cls.__new__(cls)
        err.__dict__.update(getattr(cause, "__dict__", {}))
        Exception.__init__(err, *cause.args)
        RayTaskError.__init__(
            err,
            self.function_name,
            self.traceback_str,
            cause,
            self.proctitle,
            self.pid,
            self.ip,
            self.actor_repr,
        )
        err.args = cause.args
        return err


_dual_classes: dict[type, type | None] = {}
_dual_lock = threading.Lock()


def _dual_class(cause_cls: type) -> type | None:
    """Build (once per cause class) the class ``RayTaskError(<cause name>)``."""
    with _dual_lock:
        if cause_cls in _dual_classes:
            return _dual_classes[cause_cls]
        name = f"RayTaskError({cause_cls.__name__})"
        try:
            cls: type | None = type(
                name,
                (RayTaskError, cause_cls),
                {
                    "__module__": __name__,
                    "__qualname__": name,
                    "__init__": RayTaskError.__init__,
                    "__str__": RayTaskError.__str__,
                    "__reduce__": RayTaskError.__reduce__,
                    "__getattr__": _cause_getattr,
                },
            )
        except TypeError:  # the cause's class cannot be subclassed (a final or layout-clashing class)
            cls = None
        _dual_classes[cause_cls] = cls
        return cls


def _cause_getattr(self: RayTaskError, name: str) -> Any:
    cause = self.__dict__.get("cause")
    if cause is None or name.startswith("__"):
        raise AttributeError(name)
    return getattr(cause, name)


def _rebuild_task_error(*args: Any) -> RayTaskError:
    err = RayTaskError(*args)
    return err.as_instanceof_cause() if err.cause is not None else err
