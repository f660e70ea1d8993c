"""The scheduler's bookkeeping of keys that Dask alone would get wrong for Ray's semantics.

* Interest: a ref can reach another process before the task that makes it reaches the
  scheduler (the driver's submission and its call to an actor travel on different
  connections), so the scheduler registers a client's interest once it knows the key.
* Worker crashes per task: Dask counts them against one limit for every task
  (``allowed-failures``); Ray's ``max_retries`` is per task. The count travels to the next
  worker in the task's annotations, where the task wrapper raises WorkerCrashedError once it
  is too high.
* Actor results: an actor host stores large results itself; they become Dask data here, and
  the calls show in the dashboard's task stream under ``Class.method``.
* Stream batching: the scheduler sends to each worker with little delay (see dask_private).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed.diagnostics.task_stream import TaskStreamPlugin

from .. import dask_private
from ..protocol import CRASHES
from .extension import Changed, Extension

DESIRE_TIMEOUT = 60.0  # seconds the scheduler waits to learn a key a client wants


class KeyLedger(Extension):
    """Scheduler extension for the keys of tasks and actor calls.

    Routes:

    * ``raycompat_keys_desire``: register a client's interest in keys once the scheduler knows them.
    * ``raycompat_keys_stored``: an actor host stored call results: they become Dask data.
    * ``raycompat_keys_record_calls``: show actor calls in the dashboard's task stream.

    Hooks: ``transition`` counts worker crashes per task; ``add_worker`` shortens batching.
    """

    name = "raycompat-keys"

    def __init__(self) -> None:
        super().__init__()
        self.new_keys = Changed()  # notified when tasks may have become known, while awaited
        self.awaited = 0  # desire calls waiting for keys

    def routes(self) -> dict[str, Callable[..., Any]]:
        return {
            "raycompat_keys_desire": self.desire,
            "raycompat_keys_stored": self.stored,
            "raycompat_keys_record_calls": self.record_calls,
        }

    async def start(self, scheduler: Any) -> None:
        await super().start(scheduler)
        if TaskStreamPlugin.name not in scheduler.plugins:  # where actor calls are recorded
            scheduler.add_plugin(TaskStreamPlugin(scheduler))
        for worker in scheduler.workers:
            self.add_worker(scheduler, worker)

    # -- routes ---------------------------------------------------------------------------------

    async def desire(self, keys: list[str], client: str, timeout: float = DESIRE_TIMEOUT) -> None:
        """Register ``client``'s interest in ``keys`` once the scheduler knows them."""
        tasks = self.scheduler.tasks
        self.awaited += 1
        try:
            await self.new_keys.wait_until(lambda: all(k in tasks for k in keys), timeout)
        finally:
            self.awaited -= 1
        known = [k for k in keys if k in tasks]
        if known:
            dask_private.client_desires_keys(self.scheduler, known, client)

    def stored(self, who_has: dict[str, list[str]], nbytes: dict[str, int], client: str) -> None:
        """An actor host stored call results: make them Dask data that ``client`` wants."""
        dask_private.update_data(self.scheduler, who_has, nbytes, client)
        if self.awaited:
            self.new_keys.notify()

    def record_calls(self, worker: str, records: list[dict[str, Any]]) -> None:
        """Show actor calls, run by the host at ``worker``, in the dashboard's task stream."""
        stream = self.scheduler.plugins.get(TaskStreamPlugin.name)
        if stream is None:
            return
        for record in records:
            dask_private.show_in_task_stream(stream, record["key"], worker, record["start"], record["stop"])

    # -- scheduler hooks ----------------------------------------------------------------------

    def transition(self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str = "", **kwargs: Any) -> None:
        if start == "released" and self.awaited:  # a new task leaves ``released`` first
            self.new_keys.notify()
        if dask_private.released_by_worker_death(start, finish, stimulus_id):
            ts = self.scheduler.tasks.get(key)
            if ts is not None:
                dask_private.annotate(ts, CRASHES, dask_private.worker_deaths(ts))

    def add_worker(self, scheduler: Any, worker: str) -> None:
        """Send to the worker with little batching delay (Dask's default is 5 ms)."""
        dask_private.shorten_scheduler_batching(scheduler, worker=worker)
