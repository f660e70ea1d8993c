"""Tasks wait in the scheduler until a worker has a free slot, as in Ray.

Ray gives a task to a worker only when that worker has a free CPU, so a short task never sits
behind a long one while another CPU is idle. Dask queues in the scheduler only the "root-ish"
tasks of large groups; any other task is sent at once to the worker that looks least busy, and
waits there behind whatever that worker is running, even when another worker frees up first.

On the schedulers raycompat starts, every task without resource or worker restrictions is
queued Dask's root-ish way, unless its inputs are large: those go where their data is.
"""

from __future__ import annotations

from typing import Any

from .. import dask_private

# Inputs up to this size move to the free worker; larger ones keep Dask's choice by locality.
SMALL_INPUTS = 1024 * 1024


def waits_for_a_slot(ts: Any) -> bool:
    """Whether the task ``ts`` waits in the scheduler until a worker has a free slot.

    True for every task without resource or worker restrictions whose inputs are small: a task
    with large inputs is placed by Dask's estimate of transfer cost against waiting time.
    """
    if ts.resource_restrictions or ts.worker_restrictions or ts.host_restrictions or ts.actor:
        return False
    return sum(max(dts.nbytes, 0) for dts in ts.dependencies) <= SMALL_INPUTS


def queue_until_a_slot_opens(scheduler: Any) -> None:
    """Make ``scheduler`` queue every task ``waits_for_a_slot`` picks until a slot opens."""
    dask_private.queue_every_task_until_a_slot_opens(scheduler, waits_for_a_slot)
