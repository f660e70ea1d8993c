"""Submitting tasks, and cancelling them."""

from __future__ import annotations

from typing import Any

import cloudpickle
from distributed import Future

from . import interrupts, nodes
from .backend import Backend
from .binding import new_key
from .protocol import TaskSpec
from .refs import ObjectRef
from .scheduler import install
from .worker.generators import run_generator_task
from .worker.tasks import getitem, interrupt, run_task


def task_resources(
    backend: Backend, num_cpus: float | None, num_gpus: float, resources: dict[str, float], memory: float
) -> dict[str, float] | None:
    """Map Ray's resource request to Dask's, or None when a plain thread slot is enough.

    On the embedded cluster a task holds at most one CPU (one worker thread), and ``memory``
    is not a resource: its workers have no memory limit, as a Ray node has all its memory.
    """
    num_cpus = 1.0 if num_cpus is None else num_cpus  # None: the default, as in Ray
    cpus = num_cpus if backend.cpu_cap is None else min(num_cpus, backend.cpu_cap)
    memory = memory if backend.cpu_cap is None else 0
    wanted = {"CPU": cpus, "GPU": num_gpus, "memory": memory, **resources}
    wanted = {k: float(v) for k, v in wanted.items() if v}
    if set(wanted) <= {"CPU"} and wanted.get("CPU", 1.0) == 1.0:
        return None  # one CPU: the worker's thread slot already gives Ray's accounting
    return wanted


@interrupts.held
def submit_task(
    backend: Backend,
    spec: TaskSpec,
    deps: list[Future],
    keepalive: list[ObjectRef[Any]],
    *,
    resources: dict[str, float] | None,
    num_returns: int,
    workers: list[str] | None = None,
    allow_other_workers: bool = False,
) -> list[ObjectRef[Any]]:
    """Submit one task; return its ``num_returns`` ObjectRefs at once.

    ``workers`` (hosts or addresses) restricts where it runs: node affinity, placement groups.
    The spec travels pickled: the scheduler then keeps one bytes object per task instead of
    the spec's objects, which is most of its memory per task.
    """
    client = backend.client
    if spec.generator is not None:  # its items are filed in the scheduler's mailbox
        install.ensure_generator_mailbox(backend)
    key = new_key(spec.name)
    future = client.submit(
        run_task if spec.generator is None else run_generator_task,
        cloudpickle.dumps(spec),
        *deps,
        key=key,
        pure=False,
        resources=resources,
        workers=workers,
        allow_other_workers=allow_other_workers,
    )
    if num_returns == 1:
        futures = [future]
    else:
        futures = [client.submit(getitem, future, i, key=f"{key}-{i}", pure=False) for i in range(num_returns)]
    refs = [ObjectRef(f.key, f) for f in futures]
    if resources:  # warn if no worker can ever give them
        nodes.watch_pending(client, future, spec.name, resources)
    if keepalive:  # nested refs live at least as long as the task that borrows them
        holder = list(keepalive)
        future.add_done_callback(lambda _f, holder=holder: holder.clear())
    return refs


def cancel(backend: Backend, ref: ObjectRef[Any], force: bool) -> None:
    """Cancel the task behind ``ref``: drop it if queued, interrupt (or kill) it if running."""
    future = ref._future
    if future is None or future.done():
        return  # a finished task or a put value stays readable, as in Ray
    key = str(future.key).rsplit("-", 1)[0] if _is_getitem_key(future.key) else future.key
    # Cancel first, so that the scheduler does not run the task again when force kills its worker.
    backend.client.cancel([future], reason="ray.cancel")
    backend.client.run(interrupt, [key], force, on_error="ignore")


def _is_getitem_key(key: Any) -> bool:
    parts = str(key).rsplit("-", 1)
    return len(parts) == 2 and parts[1].isdigit() and len(parts[0]) > 33
