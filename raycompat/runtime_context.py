"""RuntimeContext: who and where the current driver, task or actor is (``ray.runtime_context``)."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import warnings
from typing import Any

from . import _session
from ._cluster_info import get_gpu_ids
from ._dask import nodes as _nodes
from ._dask import task_context
from ._dask.worker import tasks as _tasks
from .actor import ActorHandle

logger = logging.getLogger("raycompat")

# Ray's accelerator names; only GPU can be non-empty here.
_ACCELERATORS = ("GPU", "FURIOSA", "neuron_cores", "TTNPU", "HPU", "MBLT", "NPU", "RBLN", "TPU")


def _hex(text: str, digits: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:digits]


class RuntimeContext:
    """The ids and resources of the current process and task; get it with ``get_runtime_context()``.

    Dask note: ids are hex strings of Ray's lengths (job 8, task 48, actor 32, node and worker
    56 digits) derived from Dask names, not Ray ``ID`` objects; a node is a Dask worker host.
    """

    # -- ids ------------------------------------------------------------------------------------

    def get_job_id(self) -> str:
        """Return the id of the job (the driver that submitted the current work), 8 hex digits."""
        job = task_context.current().job_id or _session.current().job_id
        return _hex(str(job), 8)

    def get_node_id(self) -> str:
        """Return the id of the node this process runs on (56 hex digits)."""
        ip = _nodes.worker_ip()
        if ip is None:
            ip = _nodes.local_ip(_session.current().client)
        return _nodes.node_id(ip)

    def get_worker_id(self) -> str:
        """Return the id of this process: the Dask worker's address, or the driver's client id."""
        worker = _nodes.current_worker()
        name = worker.address if worker is not None else str(_session.current().client.id)
        return _hex(f"worker:{name}", 56)

    def get_task_id(self) -> str | None:
        """Return the id of the running task or actor call (48 hex digits); None in the driver."""
        key = task_context.current().key
        if key is None and task_context.current().actor is None:
            logger.warning("This method is only available when the process is a worker (a task or actor); returning None.")
            return None
        return _hex(f"task:{key or id(task_context.current().actor)}", 48)

    def get_actor_id(self) -> str | None:
        """Return the id of the current actor (32 hex digits); None outside an actor."""
        actor_id = _actor_attr("actor_id")
        if actor_id is None:
            if task_context.current().job_id is None:
                logger.warning("This method is only available when the process is a worker (a task or actor); returning None.")
            return None
        return _hex(f"actor:{actor_id}", 32)

    def get_actor_name(self) -> str | None:
        """Return the current actor's name ("" if it has none); None outside an actor."""
        name = _actor_attr("actor_name")
        return None if name is None else str(name)

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """Whether the current actor was restarted after its process died."""
        return bool(_actor_attr("incarnation"))

    def get_placement_group_id(self) -> None:
        """Return None: tasks do not know their placement group here (child tasks are never captured)."""
        return None

    def get_task_name(self) -> str | None:
        """Return the task's name (its ``name`` option, or the function's name); None in the driver."""
        return task_context.current().name

    def get_task_function_name(self) -> str | None:
        """Return the name of the running function or method; None in the driver.

        Dask note: this is the task's name (``fn`` or ``Cls.method``), without Ray's module prefix.
        """
        return task_context.current().name

    # -- resources ------------------------------------------------------------------------------

    def get_assigned_resources(self) -> dict[str, float]:
        """Return the resources the current task or actor holds, e.g. ``{'CPU': 1.0}``.

        Raises:
            AssertionError: In the driver, as in Ray.

        Dask note: a task that asked for only ``num_cpus=1`` reports ``{'CPU': 1.0}``; on the
        embedded cluster, requests above one CPU are reported as one CPU (each worker has one).
        """
        if task_context.current().job_id is None:
            raise AssertionError(
                "This method is only available when the process is a worker (inside a task or "
                "actor). Current mode: 0. Call get_assigned_resources() from a remote function."
            )
        held = _nodes.task_resources(task_context.current().key)
        if held is None:
            return {} if task_context.current().actor is not None else {"CPU": 1.0}
        return held

    def get_accelerator_ids(self) -> dict[str, list[str]]:
        """Return the ids of the accelerators lent to the current task, by kind (strings)."""
        ids = {name: [] for name in _ACCELERATORS}
        ids["GPU"] = [str(i) for i in get_gpu_ids()]
        return ids

    def get_resource_ids(self) -> dict[str, list[str]]:
        """Deprecated in Ray: use ``get_accelerator_ids()``."""
        warnings.warn("Use get_accelerator_ids() instead", DeprecationWarning, stacklevel=2)
        return self.get_accelerator_ids()

    # -- environment ----------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The namespace of named actors for this job."""
        backend = _session.current_or_none()
        return backend.namespace if backend is not None else task_context.current().namespace

    @property
    def gcs_address(self) -> str:
        """The address of the Dask scheduler (Ray's GCS)."""
        return str(_session.current().address)

    @property
    def runtime_env(self) -> dict[str, Any]:
        """The job's runtime_env as given to ``init()``: its ``env_vars``."""
        backend = _session.current_or_none()
        env = backend.env_vars if backend is not None else {}
        return {"env_vars": dict(env)} if env else {}

    def get_runtime_env_string(self) -> str:
        """Return ``runtime_env`` as a JSON string."""
        return json.dumps(self.runtime_env)

    def get_node_labels(self) -> dict[str, str]:
        """Return the labels of this node: its id."""
        return {"ray.io/node-id": self.get_node_id()}

    def get_session_name(self) -> str:
        """Return a name for this cluster's session, derived from the scheduler address."""
        return f"session_raycompat_{_hex(self.gcs_address, 12)}"

    def get_temp_dir(self) -> str:
        """Return the worker's scratch directory, or the system temp directory in the driver."""
        worker = _nodes.current_worker()
        if worker is not None:
            return str(worker.local_directory)
        return tempfile.gettempdir()

    def is_canceled(self) -> bool:
        """Whether ``ray.cancel()`` was called on the running task."""
        key = task_context.current().key
        return key is not None and _tasks.is_cancelled(key)

    @property
    def current_actor(self) -> Any:
        """The handle of the current actor; only inside an actor."""
        host = task_context.current().actor
        if host is None:
            raise RuntimeError(
                "current_actor is only available inside an actor method. Pass the handle to the "
                "task as an argument instead."
            )
        return ActorHandle._from_entry(host.entry)

    def get(self) -> dict[str, Any]:
        """Return job_id, node_id, namespace and (in a task or actor) task_id / actor_id."""
        out: dict[str, Any] = {
            "job_id": self.get_job_id(),
            "node_id": self.get_node_id(),
            "namespace": self.namespace,
        }
        if task_context.current().key is not None or task_context.current().actor is not None:
            out["task_id"] = self.get_task_id()
        if _actor_attr("actor_id") is not None:
            out["actor_id"] = self.get_actor_id()
        return out

    # -- deprecated properties ------------------------------------------------------------------

    @property
    def job_id(self) -> str:
        warnings.warn("Use get_job_id() instead", DeprecationWarning, stacklevel=2)
        return self.get_job_id()

    @property
    def node_id(self) -> str:
        warnings.warn("Use get_node_id() instead", DeprecationWarning, stacklevel=2)
        return self.get_node_id()

    @property
    def task_id(self) -> str | None:
        warnings.warn("Use get_task_id() instead", DeprecationWarning, stacklevel=2)
        return self.get_task_id()

    @property
    def actor_id(self) -> str | None:
        warnings.warn("Use get_actor_id() instead", DeprecationWarning, stacklevel=2)
        return self.get_actor_id()

    def __repr__(self) -> str:
        return f"<RuntimeContext namespace={self.namespace!r} task={task_context.current().name!r}>"


def _actor_attr(name: str) -> Any:
    """An attribute of the running actor (its host, then its creation spec), or None."""
    host = task_context.current().actor
    if host is None:
        return None
    for obj in (host, host.spec):
        value = getattr(obj, name, None) if obj is not None else None
        if value is not None:
            return value
    return None


def get_runtime_context() -> RuntimeContext:
    """Return the runtime context of the current driver, task or actor.

    Example: ``ray.get_runtime_context().get_node_id()``.
    """
    return RuntimeContext()
