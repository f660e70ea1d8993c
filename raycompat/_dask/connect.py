"""Connecting a session: start the embedded cluster, or join a running Dask scheduler."""

from __future__ import annotations

import socket

from dask.system import CPU_COUNT as CPU_COUNT
from distributed import Client
from distributed.comm import parse_address, parse_host_port

from . import settings
from . import tls as tls_files
from .backend import Backend
from .process.embedded import EmbeddedCluster


def start_embedded(
    *,
    num_cpus: int,
    num_gpus: float,
    resources: dict[str, float],
    env_vars: dict[str, str],
    dashboard_port: int | None,
    include_dashboard: bool,
    log_to_driver: bool,
    namespace: str,
) -> Backend:
    """Start a scheduler here and ``num_cpus`` one-thread worker processes, then connect."""
    config = settings.scoped(settings.CLIENT, settings.SCHEDULER)
    first_worker = {"CPU": 1.0, **({"GPU": float(num_gpus)} if num_gpus else {}), **resources}
    try:
        cluster = EmbeddedCluster(
            num_workers=max(1, num_cpus),
            resources={"CPU": 1.0},
            first_worker_resources=first_worker,
            env_vars=env_vars,
            dashboard_port=dashboard_port,
            include_dashboard=include_dashboard,
            quiet_workers=not log_to_driver,
        )
    except BaseException:
        config.close()
        raise
    try:
        # Not direct_to_workers: it fetches values faster, but a gather that races a worker's
        # death can then wait forever (docs/performance.md).
        client = Client(cluster.scheduler_address, loop=cluster.loop, set_as_default=False)
        cluster.fast_client_stream(client.id)
        client.wait_for_workers(max(1, num_cpus), timeout=60)
        backend = Backend(
            client, cluster, log_to_driver=log_to_driver, namespace=namespace, env_vars=env_vars, config=config
        )
    except BaseException:
        cluster.close()
        config.close()
        raise
    cluster.load_dashboard()
    return backend


_START_ONE = (
    "Start one with `raycompat start --head` (or `dask scheduler` and `dask worker ADDRESS`), or "
    "call ray.init() without an address to start an embedded cluster."
)


def _listening(address: str, timeout: float) -> bool | None:
    """Whether something accepts TCP connections at ``address``: False when the port refuses;
    None when unknown (silence, or not a TCP address)."""
    scheme, location = parse_address(address)
    if scheme not in ("tcp", "tls"):
        return None
    try:
        host, port = parse_host_port(location)
        socket.create_connection((host, port), timeout=min(timeout, 2)).close()
    except ConnectionRefusedError:
        return False
    except (OSError, ValueError):
        return None
    return True


def join(
    address: str,
    *,
    log_to_driver: bool,
    namespace: str,
    env_vars: dict[str, str],
    tls: dict[str, str] | None = None,
    timeout: float = 10,
) -> Backend:
    """Join a running Dask scheduler at ``address`` (with the TLS files of `raycompat start --tls`)."""
    if "://" not in address:
        address = f"tcp://{address}"
    config = settings.scoped(settings.CLIENT)
    try:
        client = Client(address, set_as_default=False, timeout=timeout, security=tls_files.security(tls) if tls else None)
    except (OSError, TimeoutError) as exc:
        config.close()
        if address.startswith("tcp://") and _listening(address, timeout):  # it took the connection, then dropped Dask's handshake
            raise ConnectionError(
                f"Could not connect to a cluster at {address!r}: it closed the connection during Dask's "
                "handshake, which is what a cluster that requires TLS does to a plain tcp:// client. For a "
                "`raycompat start --tls` cluster, use ray.init(address=\"auto\") on a machine that has its "
                "address file and tls folder (see docs/cluster.md, TLS)."
            ) from None
        raise ConnectionError(f"Could not connect to a cluster at {address!r}: {exc}. {_START_ONE}") from None
    try:
        return Backend(client, None, log_to_driver=log_to_driver, namespace=namespace, env_vars=env_vars, config=config)
    except BaseException:
        client.close()
        config.close()
        raise
