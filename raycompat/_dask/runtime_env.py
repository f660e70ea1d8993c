"""runtime_env on Dask: ship ``working_dir`` and ``py_modules`` to the workers, install ``pip``.

A local directory is zipped here and unpacked by a worker plugin into each worker's local
directory, which joins ``sys.path`` (workers started later get it too). A ``.py``, ``.zip``
or ``.egg`` file goes through ``Client.upload_file``. ``pip`` uses Dask's PipInstall plugin.
Each distinct item is shipped once per client.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from typing import Any

from distributed.diagnostics.plugin import PipInstall, WorkerPlugin

from .backend import Backend

SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache"}
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # Ray's limit for a working_dir is 100 MiB too

class _UnpackOnWorkers(WorkerPlugin):
    """Unpack a zipped directory into the worker's local directory and put it on sys.path."""

    def __init__(self, name: str, data: bytes, as_package: bool) -> None:
        self.name = name
        self.data = data
        self.as_package = as_package  # py_modules: the directory's parent joins sys.path

    def setup(self, worker: Any) -> None:
        target = os.path.join(worker.local_directory, "runtime_env", self.name)
        with zipfile.ZipFile(io.BytesIO(self.data)) as z:
            z.extractall(target)
        if target not in sys.path:
            sys.path.insert(0, target)


def _zip_dir(path: str, prefix: str) -> bytes:
    buffer = io.BytesIO()
    size = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            for name in files:
                if name.endswith(".pyc"):
                    continue
                full = os.path.join(root, name)
                size += os.path.getsize(full)
                if size > MAX_UPLOAD_BYTES:
                    raise ValueError(
                        f"runtime_env directory {path!r} is larger than 100 MiB. Leave large data out "
                        "of it (read it from shared storage in the task) or list only code in py_modules."
                    )
                z.write(full, os.path.join(prefix, os.path.relpath(full, path)))
    return buffer.getvalue()


def _ship_path(backend: Backend, path: str, field: str, as_package: bool) -> None:
    client = backend.client
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isfile(path) and path.endswith((".py", ".zip", ".egg")):
        if (field, path) not in backend.runtime_envs:
            client.upload_file(path)
            backend.runtime_envs.add((field, path))
        return
    if not os.path.isdir(path):
        raise ValueError(
            f"runtime_env[{field!r}] must be a local directory (or a .py/.zip file), got {path!r}. "
            "Remote URIs (s3://, gs://, https://) are not supported by raycompat: download it first."
        )
    if (field, path) in backend.runtime_envs:  # shipped once per session, as it was at first use
        return
    prefix = os.path.basename(path) if as_package else ""
    data = _zip_dir(path, prefix)
    name = f"{os.path.basename(path)}-{hashlib.sha1(path.encode()).hexdigest()[:12]}"
    client.register_plugin(_UnpackOnWorkers(name, data, as_package), name=f"raycompat-runtime-env-{name}")
    backend.runtime_envs.add((field, path))


def apply(backend: Backend, runtime_env: dict[str, Any] | None) -> None:
    """Make ``working_dir``, ``py_modules`` and ``pip`` of ``runtime_env`` take effect on the workers."""
    if not runtime_env or backend.in_worker:
        return
    working_dir = runtime_env.get("working_dir")
    if working_dir:
        _ship_path(backend, str(working_dir), "working_dir", as_package=False)
    for module in runtime_env.get("py_modules") or ():
        path = getattr(module, "__file__", None)
        if path is not None:  # a module object: ship its package directory
            path = os.path.dirname(path) if os.path.basename(path) == "__init__.py" else path
        _ship_path(backend, str(path or module), "py_modules", as_package=True)
    pip = runtime_env.get("pip")
    if pip:
        _install(backend, pip)


def _install(backend: Backend, pip: Any) -> None:
    packages = pip.get("packages") if isinstance(pip, dict) else pip
    if isinstance(packages, str):  # a requirements file
        with open(packages) as f:
            packages = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    key = ("pip", repr(sorted(packages)))
    if key in backend.runtime_envs:
        return
    backend.client.register_plugin(PipInstall(list(packages), restart_workers=False))
    backend.runtime_envs.add(key)
