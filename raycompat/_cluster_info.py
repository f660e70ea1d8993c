"""cluster_resources / available_resources / nodes / get_gpu_ids: the cluster as Ray shows it.

Dask note: a node is a Dask worker host; the worker processes on one IP address form one node.
"""

from __future__ import annotations

from typing import Any

from . import _session
from ._dask import nodes as _nodes
from ._dask import task_context


def _client() -> Any:
    return _session.current().client


def _with_node_keys(node: _nodes.NodeInfo, resources: dict[str, float]) -> dict[str, float]:
    out = {k: float(v) for k, v in resources.items()}
    out[f"node:{node.host}"] = 1.0
    if node.is_head:
        out["node:__internal_head__"] = 1.0
    return out


def cluster_resources() -> dict[str, float]:
    """Return the resources of all nodes together, as ``{name: quantity}``.

    Returns:
        CPU, GPU, memory (bytes) and custom resources, plus ``node:<ip>`` (1.0 for each node)
        and ``node:__internal_head__``, all as floats.

    Dask note: a worker that advertises no ``CPU`` resource counts its threads as CPUs, and
    ``memory`` is the workers' ``memory`` resource, or else their Dask memory limit.
    There is no ``object_store_memory``.
    """
    total: dict[str, float] = {}
    for node in _nodes.nodes(_client()):
        for k, v in _with_node_keys(node, node.total()).items():
            total[k] = total.get(k, 0.0) + v
    return total


def available_resources() -> dict[str, float]:
    """Return the resources not in use right now; those fully in use are left out, as in Ray.

    Dask note: a task with ``num_cpus=1`` and no other resources holds one CPU while it runs
    (its worker thread); a task blocked in ``get()`` inside another task gives its CPU back.
    """
    free: dict[str, float] = {}
    for node in _nodes.nodes(_client(), usage=True):
        used = node.used()
        left = {k: v - used.get(k, 0.0) for k, v in node.total().items()}
        for k, v in _with_node_keys(node, left).items():
            free[k] = free.get(k, 0.0) + v
    return {k: v for k, v in free.items() if v > 1e-9}


def nodes() -> list[dict[str, Any]]:
    """Return one dict per node, with Ray's keys (``NodeID``, ``Alive``, ``Resources``, ...).

    Dask note: ports and socket names that a Ray node has and a Dask host has not are -1 or
    empty; ``DaskWorkers`` lists the addresses of the node's Dask workers.
    """
    out = []
    for node in _nodes.nodes(_client()):
        out.append(
            {
                "NodeID": node.node_id,
                "Alive": True,
                "NodeManagerAddress": node.host,
                "NodeManagerHostname": node.host,
                "NodeManagerPort": -1,
                "ObjectManagerPort": -1,
                "ObjectStoreSocketName": "",
                "RayletSocketName": "",
                "MetricsExportPort": -1,
                "NodeName": node.host,
                "DeathReason": 0,
                "DeathReasonMessage": "",
                "alive": True,
                "IsHeadNode": node.is_head,
                "Resources": _with_node_keys(node, node.total()),
                "Labels": {"ray.io/node-id": node.node_id},
                "DaskWorkers": [w.address for w in node.workers],
            }
        )
    return out


def get_gpu_ids() -> list[int]:
    """Return the ids of the GPUs lent to the current task or actor; ``[]`` in the driver.

    Dask note: ids come from the worker's ``CUDA_VISIBLE_DEVICES`` (else 0..n-1 for its ``GPU``
    resource) and are handed out per worker process: whole GPUs to one task at a time,
    fractions packed onto one id. ``CUDA_VISIBLE_DEVICES`` is not changed for the task, since
    tasks share a process; pass the ids to your framework (``torch.device(f"cuda:{i}")``).
    """
    return _nodes.gpu_ids(task_context.current().key)
