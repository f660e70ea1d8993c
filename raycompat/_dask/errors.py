"""Ray's exception for each way a Dask future or connection can fail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import distributed

from .. import exceptions
from . import dask_private

if TYPE_CHECKING:
    from .backend import Backend


def ensure_connected(backend: Backend) -> None:
    """Raise ConnectionError at once when the scheduler is gone, rather than wait on it.

    In a worker the client may still be making its first connection ("connecting"): that is
    not a lost scheduler (if the worker loses the scheduler, the worker itself ends).
    """
    status = backend.client.status
    if status in ("running", "newly-created") or (backend.in_worker and status == "connecting"):
        return
    raise lost_scheduler(backend)


def lost_scheduler(backend: Backend) -> ConnectionError:
    return ConnectionError(
        f"Lost the connection to the Dask scheduler at {backend.address}: the cluster stopped or "
        "cannot be reached. Start it again, then call ray.shutdown() and ray.init() to reconnect."
    )


def timeout_error(timeout: float | None, total: int, waiting: int) -> exceptions.GetTimeoutError:
    return exceptions.GetTimeoutError(
        f"Get timed out: some object(s) not ready. {waiting} of {total} ObjectRefs were not ready "
        f"after {timeout} s; pass a larger timeout, or use ray.wait() to take the ready ones."
    )


def task_failure(future: Any, backend: Backend | None = None) -> BaseException:
    """The Ray exception for a Dask future that did not finish."""
    if future.status == "cancelled":
        if dask_private.cancel_reason(future) == "scheduler-connection-lost" and backend is not None:
            return lost_scheduler(backend)
        return exceptions.TaskCancelledError(str(future.key))
    if future.status == "lost":
        return exceptions.ObjectLostError(str(future.key))
    try:
        exc = future.exception(timeout=5)
    except Exception as err:  # cancelled or lost while we looked
        return as_ray_error(err)
    return as_ray_error(exc)


def as_ray_error(exc: BaseException | None) -> BaseException:
    """The Ray exception for an error Dask raised while running or fetching a task."""
    if isinstance(exc, exceptions.RayError):
        return exc
    if isinstance(exc, distributed.client.FutureCancelledError) or type(exc).__name__ == "CancelledError":
        return exceptions.TaskCancelledError()
    if type(exc).__name__ == "KilledWorker":
        return exceptions.WorkerCrashedError(
            f"The worker running this task died too often ({exc}). Check the worker logs; "
            "raise max_retries to retry more."
        )
    return exceptions.RaySystemError(f"Dask could not run or fetch the task: {exc!r}")
