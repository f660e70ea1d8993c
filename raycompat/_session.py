"""init / shutdown / is_initialized: start or join a cluster, and end the session.

The session's state is the backend (``_dask/backend.py``): its Dask client, the embedded
cluster if ``init()`` started one, the namespace and env_vars. ``init`` makes it the process's
current backend and ``shutdown`` clears it; everything else finds it through ``current()``.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import threading
import uuid
from typing import Any

from . import _cluster_state
from ._dask import actor_client, connect
from ._dask import backend as backends
from ._dask.backend import Backend
from ._dask.runtime_env import apply as apply_runtime_env
from ._options import env_vars as _env_vars
from ._options import unsupported

# The Ray API version raycompat follows: scripts that check ray.__version__ see this.
__version__ = "2.60.0"

# Arguments of Ray's ray.init() that change nothing here; they are accepted with a warning.
ACCEPTED_INIT_ARGUMENTS = frozenset({
    "labels", "logging_config", "storage", "enable_resource_isolation", "system_reserved_cpu",
    "system_reserved_memory", "_enable_object_reconstruction", "_redis_max_memory",
    "_plasma_directory", "_object_spilling_directory", "_node_ip_address", "_driver_object_store_memory",
    "_memory", "_redis_password", "_temp_dir", "_metrics_export_port", "_system_config",
    "_tracing_startup_hook", "_node_name", "_cgroup_path", "_skip_env_hook",
})

class RayContext:
    """What ``init()`` returns: addresses and the dashboard URL; a context manager that shuts down."""

    def __init__(self, backend: Backend) -> None:
        self.dashboard_url = backend.dashboard_url or ""  # "" without a dashboard, as in Ray
        self.python_version = platform.python_version()
        self.ray_version = __version__
        self.ray_commit = "raycompat"
        self.address_info = {
            "address": backend.address,
            "gcs_address": backend.address,
            "node_ip_address": "127.0.0.1",
            "webui_url": self.dashboard_url,
            "dashboard_url": self.dashboard_url,
            "namespace": backend.namespace,
            "job_id": backend.job_id,
        }

    def __getitem__(self, key: str) -> Any:
        return self.address_info[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.address_info.get(key, default)

    def __enter__(self) -> RayContext:
        return self

    def __exit__(self, *exc: object) -> None:
        shutdown()

    def disconnect(self) -> None:
        shutdown()

    def __repr__(self) -> str:
        return f"RayContext(dashboard_url={self.dashboard_url!r}, address={self.address_info['address']!r})"


_lock = threading.RLock()
_initialized: Backend | None = None  # the backend init() made, until shutdown()
_atexit_registered = False


def init(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: float | None = None,
    resources: dict[str, float] | None = None,
    object_store_memory: int | None = None,
    local_mode: bool = False,
    ignore_reinit_error: bool = False,
    include_dashboard: bool | None = None,
    dashboard_host: str = "127.0.0.1",
    dashboard_port: int | None = None,
    job_config: Any = None,
    configure_logging: bool = True,
    logging_level: int | str | None = None,
    logging_format: str | None = None,
    log_to_driver: bool | None = None,
    namespace: str | None = None,
    runtime_env: dict[str, Any] | None = None,
    **kwargs: Any,
) -> RayContext:
    """Connect to a cluster, or start an embedded one, and return its context.

    Args:
        address: None or ``"local"`` starts an embedded cluster (unless ``RAY_ADDRESS`` is set);
            ``"auto"`` joins the cluster of ``raycompat start --head`` or ``RAY_ADDRESS``;
            ``"tcp://host:port"`` or ``"host:port"`` joins any Dask scheduler.
        num_cpus: CPU slots of the embedded cluster: one worker process each. Default: all CPUs.
        num_gpus: GPUs the embedded cluster advertises.
        resources: Custom resources the embedded cluster advertises.
        ignore_reinit_error: Return quietly if already initialized.
        include_dashboard: Serve Dask's dashboard (on 127.0.0.1). Default: yes.
        dashboard_port: Port of the dashboard; default any free port.
        log_to_driver: Print the output of tasks here, prefixed with ``(name pid=N)``.
        namespace: Namespace for named actors.
        runtime_env: ``env_vars``, ``working_dir``, ``py_modules`` and ``pip``, applied in
            every worker.

    Returns:
        A RayContext with ``dashboard_url`` and ``address_info``; ``with ray.init():`` shuts down at the end.

    Raises:
        RuntimeError: If called twice without ``ignore_reinit_error=True``.
        ConnectionError: If no cluster answers at ``address``.

    Dask note: the embedded cluster is a Dask scheduler in this process and one worker process
    per CPU slot, all on 127.0.0.1; object_store_memory and local_mode have no effect.
    """
    global _initialized, _atexit_registered
    unknown = sorted(k for k in kwargs if k not in ACCEPTED_INIT_ARGUMENTS)
    if unknown:
        raise RuntimeError(f"Unknown keyword argument(s): {', '.join(unknown)}. Remove them from ray.init().")
    ignored = {
        "dashboard_host": dashboard_host != "127.0.0.1",
        "job_config": job_config is not None,
        "logging_level": logging_level is not None,
        "logging_format": logging_format is not None,
        "object_store_memory": object_store_memory is not None,
        "local_mode": local_mode,
        **{k: v is not None for k, v in kwargs.items()},
    }
    with _lock:
        if _initialized is not None:
            if ignore_reinit_error:
                return RayContext(_initialized)
            raise RuntimeError(
                "Maybe you called ray.init twice by accident? This error can be suppressed by "
                "passing in 'ignore_reinit_error=True' or by calling 'ray.shutdown()' prior to "
                "'ray.init()'."
            )
        for name in (name for name, given in ignored.items() if given):
            unsupported(name, "ray.init()")
        backend = _connect(
            address,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            resources=resources,
            env=_env_vars(runtime_env),
            dashboard_port=dashboard_port,
            include_dashboard=include_dashboard is not False,
            log_to_driver=True if log_to_driver is None else bool(log_to_driver),
            namespace=namespace or f"anonymous-{uuid.uuid4().hex[:12]}",
        )
        try:
            apply_runtime_env(backend, runtime_env)  # working_dir, py_modules, pip: for every worker
        except BaseException:
            backend.close()
            raise
        backends.set_default(backend)
        _initialized = backend
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return RayContext(backend)


def _connect(
    address: str | None,
    *,
    num_cpus: int | None,
    num_gpus: float | None,
    resources: dict[str, float] | None,
    env: dict[str, str],
    dashboard_port: int | None,
    include_dashboard: bool,
    log_to_driver: bool,
    namespace: str,
) -> Backend:
    """Start the embedded cluster, or join the one at ``address``; return the new backend."""
    target = _resolve_address(address)
    if target is None:
        return connect.start_embedded(
            num_cpus=_check_count("num_cpus", num_cpus, connect.CPU_COUNT),
            num_gpus=_check_count("num_gpus", num_gpus, 0),
            resources=dict(resources or {}),
            env_vars=env,
            dashboard_port=dashboard_port,
            include_dashboard=include_dashboard,
            log_to_driver=log_to_driver,
            namespace=namespace,
        )
    if num_cpus is not None or num_gpus is not None or resources:
        raise ValueError(
            "When connecting to an existing cluster, num_cpus, num_gpus and resources "
            "must not be provided. Give them to `raycompat start` or `dask worker --resources`."
        )
    return connect.join(
        target["address"], log_to_driver=log_to_driver, namespace=namespace, env_vars=env, tls=target.get("tls")
    )


def _check_count(name: str, value: Any, default: float) -> Any:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"ray.init({name}=...) takes a non-negative number, got {value!r}.")
    return value


def _resolve_address(address: str | None) -> dict[str, Any] | None:
    """Return where to connect ({"address": ..., maybe TLS files}), or None to start a cluster."""
    if address == "local":
        return None
    if address is None:
        env = os.environ.get("RAY_ADDRESS")
        return {"address": env} if env else None
    if address == "auto":
        env = os.environ.get("RAY_ADDRESS")
        if env:
            return {"address": env}
        try:
            with open(_cluster_state.address_file()) as f:
                return dict(json.load(f))
        except (OSError, ValueError):
            raise ConnectionError(
                "Could not find any running Ray instance. Start one with `raycompat start --head`, "
                "or set RAY_ADDRESS to the address of a Dask scheduler (tcp://host:8786)."
            ) from None
    if address.startswith("ray://"):
        raise ValueError(
            f"Ray Client addresses like {address!r} are not supported by raycompat. Use the "
            "Dask scheduler's address instead: ray.init(address='tcp://host:8786')."
        )
    return {"address": address}


def shutdown() -> None:
    """Disconnect; stop the embedded cluster if ``init()`` started one. Safe to call twice."""
    global _initialized
    with _lock:
        backend, _initialized = _initialized, None
        if backend is not None:
            backends.set_default(None)
    if backend is not None:
        backend.drain_output()  # before the job's actors end: what they printed arrives too
        actor_client.forget_job(backend)
        backend.close()


def is_initialized() -> bool:
    """Whether ``init()`` has run (inside a task: always True)."""
    return _initialized is not None or backends.worker_backend_or_none() is not None


def current_or_none() -> Backend | None:
    """The session's backend: the driver's, or the worker's inside a task; None when there is none."""
    return backends.current_or_none()


def current() -> Backend:
    """The session's backend; the first use without ``init()`` starts one, as Ray does."""
    backend = backends.current_or_none()
    if backend is None:
        init()
        backend = backends.current()
    return backend
