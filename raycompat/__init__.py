"""raycompat: Ray's core API on dask.distributed.

Layout (docs/architecture.md): leaves (exceptions, _alias, _options, _signatures, _strategies)
< the Dask backend (``_dask``, the only package that imports distributed) < the Ray-shaped
front end, one module per Ray concept (remote_function, actor, _objects, _session, util, ...)
< this file and the CLI. This file re-exports the public names.
"""

from __future__ import annotations

from . import exceptions as exceptions, util as util
from ._alias import install_as_ray as install_as_ray
from ._cluster_info import (
    available_resources as available_resources,
    cluster_resources as cluster_resources,
    get_gpu_ids as get_gpu_ids,
    nodes as nodes,
)
from ._objects import (
    DynamicObjectRefGenerator as DynamicObjectRefGenerator,
    ObjectRef as ObjectRef,
    ObjectRefGenerator as ObjectRefGenerator,
    cancel as cancel,
    get as get,
    put as put,
    wait as wait,
)
from ._progress import progress as progress
from ._remote import remote as remote
from .actor import (
    ActorClass as ActorClass,
    ActorHandle as ActorHandle,
    get_actor as get_actor,
    kill as kill,
    method as method,
)
from ._session import (
    __version__ as __version__,
    init as init,
    is_initialized as is_initialized,
    shutdown as shutdown,
)
from .runtime_context import get_runtime_context as get_runtime_context

__all__ = [
    "ActorClass",
    "ActorHandle",
    "DynamicObjectRefGenerator",
    "ObjectRef",
    "ObjectRefGenerator",
    "available_resources",
    "cancel",
    "cluster_resources",
    "exceptions",
    "get",
    "get_actor",
    "get_gpu_ids",
    "get_runtime_context",
    "init",
    "install_as_ray",
    "is_initialized",
    "kill",
    "method",
    "nodes",
    "progress",
    "put",
    "remote",
    "shutdown",
    "util",
    "wait",
]

# Names defined in private modules: tracebacks and reprs show raycompat.X.
for _obj in (
    DynamicObjectRefGenerator, ObjectRef, ObjectRefGenerator, available_resources, cancel,
    cluster_resources, get, get_gpu_ids, init, install_as_ray, is_initialized, nodes, progress,
    put, remote, shutdown, wait,
):
    _obj.__module__ = __name__
del _obj
