"""raycompat: Ray's core API on dask.distributed.

Layout: each Ray concept has its own module (remote_function, actor, _objects, _session, ...);
only the ``_dask`` package talks to distributed. This file re-exports the public names.
"""

from __future__ import annotations

from . import exceptions as exceptions
from ._alias import install_as_ray as install_as_ray
from ._object_ref import ObjectRef as ObjectRef
from ._objects import cancel as cancel, get as get, put as put, wait as wait
from ._remote import remote as remote
from ._session import (
    __version__ as __version__,
    init as init,
    is_initialized as is_initialized,
    shutdown as shutdown,
)

__all__ = [
    "ObjectRef",
    "cancel",
    "exceptions",
    "get",
    "init",
    "install_as_ray",
    "is_initialized",
    "put",
    "remote",
    "shutdown",
    "wait",
]

for _obj in (ObjectRef, cancel, get, init, install_as_ray, is_initialized, put, remote, shutdown, wait):
    _obj.__module__ = __name__
del _obj
