"""What the driver, the scheduler and the workers say to each other.

Small typed records that cross processes (pickled by the driver, read by a worker or the
scheduler) and the names they meet under: event topics and task annotation keys. Every
process imports this module; it imports nothing of raycompat but ``exceptions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from .shared_memory import Shared

# Event topic of task output: workers log each printed line batch, the driver prints it.
OUTPUT_TOPIC = "raycompat-output"
# Set in the embedded cluster's worker processes: nested tasks cap num_cpus at 1 there too.
EMBEDDED_WORKER_ENV = "RAYCOMPAT_EMBEDDED_WORKER"
# Task annotation: how many worker crashes the task was running in (the scheduler counts them).
CRASHES = "raycompat_crashes"

# Actor methods every actor has, as in Ray, and the one the creator sends when it lets go.
TERMINATE = "__ray_terminate__"
READY = "__ray_ready__"  # True once the actor is constructed
RELEASE = "__ray_release__"  # the creator's last handle is gone

# Handlers of an actor host (worker/actor_host.py), and the actor id of a spare host.
CONNECT_OP = "raycompat_actor_connect"  # a caller handle's stream of calls
EXIT_OP = "raycompat_actor_exit"  # ray.kill()
ASSIGN_OP = "raycompat_actor_assign"  # a spare host becomes the host of an actor
SPARE = "spare"  # the actor id of a host started ahead of need, waiting for an actor


class ActorExit(BaseException):
    """Raised by ``exit_actor()`` in a method: the actor ends after it, and is not restarted."""


@dataclass
class GeneratorSpec:
    """How a task's generator is run: ``streaming`` or ``dynamic``, and who reads it."""

    mode: str
    client: str  # the Dask client id of the process that submitted the task


@dataclass
class TaskSpec:
    """Everything a worker needs to run one task, apart from the resolved dependencies."""

    name: str  # the user's function name, for errors and output prefixes
    fn_id: str
    fn_blob: bytes
    args_blob: bytes
    job_id: str
    num_returns: int = 1
    max_retries: int = 0
    retry_exceptions: bool | tuple[type[BaseException], ...] = False
    env_vars: dict[str, str] = field(default_factory=dict)
    log_to_driver: bool = True
    namespace: str = "default"
    generator: GeneratorSpec | None = None  # for num_returns="streaming" or "dynamic"


@dataclass
class ActorSpec:
    """How to build an actor: stored in the registry, read by each incarnation of its host."""

    class_name: str
    cls_blob: bytes
    args_blob: bytes
    job_id: str
    namespace: str
    log_to_driver: bool
    max_concurrency: int | None
    env_vars: dict[str, str] = field(default_factory=dict)


@dataclass
class Dep:
    """Placeholder for the i-th resolved dependency in the pickled arguments."""

    index: int


@dataclass
class Pickled:
    """A value pickled when it was put: each reader gets its own copy, as from Ray's store."""

    blob: bytes


def loaded(value: Any) -> Any:
    """The value itself, unpickling a ``Pickled`` snapshot or mapping a ``Shared`` one."""
    if isinstance(value, Pickled):
        return cloudpickle.loads(value.blob)
    if isinstance(value, Shared):
        return value.load()
    return value


@dataclass
class ErrorValue:
    """A stored failure (of an actor call), kept as data so that dependents re-raise it."""

    error: BaseException


@dataclass
class ActorCall:
    """One actor method call, as a caller writes it on its stream to the actor's host.

    It travels as ``vars(call)``, a plain dict (Dask's messages are msgpack), and is read back
    with ``ActorCall(**message)``.
    """

    method: str
    args: bytes  # (args, kwargs), pickled by packing.pack_args
    keys: list[str]  # the Dask keys of its results, chosen by the caller
    num_returns: int
    client: str  # the caller's Dask client id: its results are data that client wants
    max_retries: int = 0
    retry_exceptions: bool | tuple[type[BaseException], ...] = False
    call: int = -1  # its number on the caller's stream, set when it is sent
    incarnation: int = -1  # the incarnation of the host it was sent to


@dataclass
class ActorReply:
    """The host's answer to one ``ActorCall``; it travels as ``vars(reply)`` too."""

    call: int
    values: list[Any] | None = None  # one per key; None where the value stayed on the host
    inline: list[bool] | None = None  # which values ride in the reply
    error: Any = None  # the call raised this (serialized for the trip)
    stale: bool = False  # the call was meant for an earlier incarnation: send it again


@dataclass
class CallOutcome:
    """What a finished actor call left in the caller: the value when it rode back in the reply."""

    has_value: bool
    value: Any = None
