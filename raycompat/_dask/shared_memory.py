"""Large ``put()`` objects in shared memory: written once, mapped by every reader on the host.

As in Ray's object store, a value is pickled with protocol 5, its large buffers (numpy arrays,
pandas columns) out of band, and the pickle and the buffers are written once into one file
under ``/dev/shm``. What Dask then stores and moves is a ``Shared`` record of a few hundred
bytes that names the file. A reader on this host (the driver's ``get()``, a task's argument)
maps the file read-only and unpickles over it: no copy, and numpy arrays arrive read-only, as
in Ray.

Lifetime: the process that holds the record for Dask (the embedded cluster's object store)
``own()``s the file; it is removed as soon as Dask frees that record (the last ref is gone), and
when that process leaves. The driver removes every file of its cluster when it stops it
(``remove_all``), so a crash leaves nothing behind either. A mapping open in a reader stays
valid after removal; the memory returns to the system when the last one closes.
"""

from __future__ import annotations

import logging
import mmap
import os
import pickle
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import cloudpickle

from ..exceptions import ObjectLostError

logger = logging.getLogger("raycompat")

DIRECTORY_ENV = "RAYCOMPAT_SHARED_MEMORY_DIR"
PREFIX_ENV = "RAYCOMPAT_SHARED_MEMORY_PREFIX"  # the embedded cluster's, in its worker processes
DEFAULT_DIRECTORY = "/dev/shm"
ALIGNMENT = 64  # each buffer starts on a cache line, as numpy prefers
WRITE_CHUNK = 1 << 30  # a single write() moves at most about 2 GiB on Linux


@dataclass(frozen=True)
class Shared:
    """A value in a shared-memory file: the pickle at offset 0, its buffers after it."""

    path: str
    pickle_size: int
    buffers: tuple[tuple[int, int], ...]  # (offset, size) of each out-of-band buffer
    nbytes: int

    def load(self) -> Any:
        """The value, its buffers mapped read-only from the file (no copy)."""
        try:
            with open(self.path, "rb") as file:
                view = memoryview(mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ))
        except FileNotFoundError:  # its holder left before the last ref was gone
            raise ObjectLostError(message=f"The object in {self.path} is lost: the process that held it has left.") from None
        return pickle.loads(view[: self.pickle_size], buffers=[view[o : o + n] for o, n in self.buffers])


def directory() -> str | None:
    """Where shared-memory files go; None where there is no shared memory to use."""
    path = os.environ.get(DIRECTORY_ENV, DEFAULT_DIRECTORY)
    return path if os.path.isdir(path) and os.access(path, os.W_OK) else None


def new_prefix() -> str:
    """A file-name prefix for one cluster's files, so that they can all be removed together."""
    return f"raycompat-{os.getpid()}-{uuid.uuid4().hex[:8]}-"


def write(value: Any, prefix: str, name: str) -> Shared | None:
    """Write ``value`` into a new shared-memory file; None if there is no room (or no shared
    memory), and the caller stores it the ordinary way. Pickling errors propagate."""
    where = directory()
    if where is None:
        return None
    buffers: list[pickle.PickleBuffer] = []
    head = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    spans, end = [], len(head)
    try:
        raws = [b.raw() for b in buffers]
    except BufferError:  # a buffer that is not contiguous: it cannot be written as it is
        return None
    for raw in raws:
        offset = -(-end // ALIGNMENT) * ALIGNMENT
        spans.append((offset, raw.nbytes))
        end = offset + raw.nbytes
    stats = os.statvfs(where)
    if stats.f_bavail * stats.f_frsize < end * 1.05:  # leave a little: a full /dev/shm fails everyone
        logger.debug("not enough shared memory for %d bytes; storing %s the ordinary way", end, name)
        return None
    path = os.path.join(where, prefix + name)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        _write_all(fd, memoryview(head), 0)
        for (offset, _), raw in zip(spans, raws):
            _write_all(fd, raw, offset)
    except OSError:  # the space went while we wrote
        os.unlink(path)
        logger.debug("shared memory ran out while writing %s; storing it the ordinary way", name, exc_info=True)
        return None
    finally:
        os.close(fd)
    return Shared(path, len(head), tuple(spans), end)


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    data = data.cast("B")
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done : done + WRITE_CHUNK], offset + done)


# -- ownership: the process that holds a record for Dask removes its file ----------------------

_owned: set[str] = set()
_owned_lock = threading.Lock()


def own(record: Shared) -> None:
    """Remove ``record``'s file when this process drops ``record`` (or leaves)."""
    with _owned_lock:
        _owned.add(record.path)
    weakref.finalize(record, _remove, record.path)


def _remove(path: str) -> None:
    with _owned_lock:
        _owned.discard(path)
    _unlink(path)


def remove(record: Shared) -> None:
    """Remove ``record``'s file now (a put that failed half-way)."""
    _unlink(record.path)


def remove_owned() -> None:
    """Remove every file this process owns (it is about to leave)."""
    with _owned_lock:
        paths = list(_owned)
        _owned.clear()
    for path in paths:
        _unlink(path)


def remove_all(prefix: str) -> None:
    """Remove every file whose name starts with ``prefix`` (one cluster's, once it stopped)."""
    where = directory()
    if where is None:
        return
    for name in os.listdir(where):
        if name.startswith(prefix):
            _unlink(os.path.join(where, name))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
