"""``ray.util.multiprocessing``: a ``multiprocessing.Pool`` that runs on the cluster."""

from __future__ import annotations

from multiprocessing import JoinableQueue as JoinableQueue, TimeoutError as TimeoutError

from .pool import AsyncResult as AsyncResult, Pool as Pool

__all__ = ["AsyncResult", "JoinableQueue", "Pool", "TimeoutError"]
