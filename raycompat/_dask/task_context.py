"""Where code runs: in which worker process, and in which task or actor call.

Set by the worker around each task and each actor method call, read by everything that must
know "where am I": output prefixes, nested submissions (their job and namespace), the runtime
context API. It is a ContextVar, so concurrent calls of an async actor each see their own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskContext:
    job_id: str | None = None  # None: no task or actor call runs here (the driver)
    name: str | None = None  # the function name, or Class.method
    key: str | None = None  # the Dask key of the running task
    log_to_driver: bool = True
    namespace: str = "default"
    actor: Any = None  # the actor host while an actor method runs


_NONE = TaskContext()
_current: contextvars.ContextVar[TaskContext] = contextvars.ContextVar("raycompat_task", default=_NONE)


def current() -> TaskContext:
    """The context of the task or actor call running here (an empty one in the driver)."""
    return _current.get()


@contextmanager
def running(context: TaskContext) -> Iterator[None]:
    """Run the block as the task or actor call described by ``context``."""
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


# The Dask worker of this process, once raycompat has set it up (None in a driver).
_worker: Any = None


def this_worker() -> Any:
    """The worker of this process that runs raycompat's tasks or actor, or None."""
    return _worker


def set_worker(worker: Any) -> None:
    global _worker
    _worker = worker
