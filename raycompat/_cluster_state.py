"""Where `raycompat start` keeps its state: the address file, node records, TLS files, logs.

A private per-user directory (``RAYCOMPAT_STATE_DIR``, by default ``$TMPDIR/raycompat-<uid>``,
mode 0700): `raycompat start --head` writes the address that ``ray.init(address="auto")``
reads, and every node started here is recorded, so `raycompat stop` stops exactly those.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import psutil

STATE_DIR_ENV = "RAYCOMPAT_STATE_DIR"


class UnsafeStateDir(Exception):
    """The state directory belongs to another user or is writable by others."""


def _path() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.environ.get(STATE_DIR_ENV) or os.path.join(tempfile.gettempdir(), f"raycompat-{uid}")


def state_dir(create: bool = False) -> str:
    """The private state directory; created 0700 if asked, and refused if others can write it."""
    path = _path()
    if create:
        os.makedirs(path, mode=0o700, exist_ok=True)
    if os.path.isdir(path):
        st = os.stat(path)
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            raise UnsafeStateDir(
                f"The state directory {path} belongs to another user or is writable by others, "
                "so its address file cannot be trusted. Remove it, or set RAYCOMPAT_STATE_DIR to "
                "a private directory."
            )
        if create:
            os.chmod(path, 0o700)
    return path


def address_file() -> str:
    """The file holding {"address": ..., "tls": {...}} of the cluster started on this machine."""
    return os.path.join(_path(), "current_cluster.json")


def nodes_dir() -> str:
    path = os.path.join(state_dir(create=True), "nodes")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def records() -> list[tuple[str, dict[str, Any]]]:
    """The records of the nodes started on this machine: (path, record)."""
    path = os.path.join(state_dir(), "nodes")
    if not os.path.isdir(path):
        return []
    out = []
    for name in sorted(os.listdir(path)):
        if name.startswith("node-") and name.endswith(".json"):
            try:
                with open(os.path.join(path, name)) as f:
                    out.append((os.path.join(path, name), json.load(f)))
            except (OSError, ValueError):
                continue
    return out


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` at once (readers never see half a file), readable by us only."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def forget(record_path: str) -> None:
    """Drop a node's record, and the address file if it named this (head) node."""
    try:
        with open(record_path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return
    os.unlink(record_path)
    if record.get("head"):
        try:
            with open(address_file()) as f:
                current = json.load(f)
            if current.get("address") == record.get("address"):
                os.unlink(address_file())
        except (OSError, ValueError):
            pass


def running(pid: int, marker: str) -> psutil.Process | None:
    """The process ``pid`` if it still runs the command we started (pids get reused), else None."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or marker not in " ".join(proc.cmdline()):
            return None
    except psutil.Error:
        return None
    return proc
