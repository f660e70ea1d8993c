"""Generator tasks on Dask: every yielded value becomes a Dask key of its own.

The task runs the user's generator in its worker. For each value it stores the value in that
worker (``Worker.update_data``) and tells the scheduler, which makes the key Dask data wanted by
the consumer's client and files it in the generator's *stream*: a mailbox kept by a scheduler
plugin, named after the task's key. The consumer long-polls the mailbox for item ``i``; the
task's own result is the number of items. An error raised by the generator becomes the next
item (reading it raises the error), as in Ray.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time
from dataclasses import dataclass, field
from typing import Any

from dask.sizeof import sizeof
from distributed.diagnostics.plugin import SchedulerPlugin

from .. import exceptions
from . import runtime

PLUGIN_NAME = "raycompat-generators"
HANDLER = "raycompat_generator"
WAIT_SLICE = 5.0  # seconds per mailbox long-poll before the consumer checks its task itself
CLOSED_MEMORY = 600.0  # seconds a closed stream is remembered, so late items are dropped


@dataclass
class GeneratorSpec:
    """How a task's generator is run: ``streaming`` or ``dynamic``, and who reads it."""

    mode: str
    client: str  # the Dask client id of the process that submitted the task


# -- the scheduler side -----------------------------------------------------------------------


@dataclass
class _Stream:
    keys: list[str] = field(default_factory=list)
    count: int | None = None  # set when the generator has ended
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class GeneratorMailbox(SchedulerPlugin):
    """Scheduler plugin: the streams of running generator tasks."""

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.streams: dict[str, _Stream] = {}
        self.closed: dict[str, float] = {}
        self.scheduler: Any = None

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        scheduler.handlers[HANDLER] = self.handle

    async def handle(self, comm: Any = None, action: str = "", **kwargs: Any) -> Any:
        return await getattr(self, f"op_{action}")(**kwargs)

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        stream = self.streams.get(key) if isinstance(key, str) else None
        if stream is None:
            return
        if finish == "forgotten":  # nobody holds the generator any more
            self._close(key)
        stream.notify()

    def _close(self, stream_id: str) -> None:
        stream = self.streams.pop(stream_id, None)
        now = time.monotonic()
        self.closed[stream_id] = now
        for old in [k for k, t in self.closed.items() if t < now - CLOSED_MEMORY]:
            del self.closed[old]
        if stream is not None:
            stream.notify()

    def _stream(self, stream_id: str) -> _Stream:
        stream = self.streams.get(stream_id)
        if stream is None:
            stream = self.streams[stream_id] = _Stream()
        return stream

    async def op_item(self, stream: str | None, index: int, key: str, worker: str, nbytes: int, client: str) -> str:
        """A task stored item ``index`` under ``key`` in ``worker``: make it data ``client`` wants."""
        if stream is not None and stream in self.closed:
            return "closed"
        self.scheduler.update_data(who_has={key: [worker]}, nbytes={key: nbytes}, client=client)
        if stream is not None:
            s = self._stream(stream)
            if index == len(s.keys):  # a retried task yields its items again: keep the first
                s.keys.append(key)
                s.notify()
        return "ok"

    async def op_end(self, stream: str, count: int) -> None:
        if stream in self.closed:
            return
        s = self._stream(stream)
        s.count = count
        s.notify()

    async def op_wait(self, stream: str, index: int, timeout: float = WAIT_SLICE) -> dict[str, Any]:
        """Wait until item ``index`` exists, the stream ends, or its task fails."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if stream in self.closed:
                return {"closed": True}
            s = self._stream(stream)
            if index < len(s.keys):
                return {"key": s.keys[index]}
            if s.count is not None:
                return {"end": s.count}
            ts = self.scheduler.tasks.get(stream)
            if ts is not None and ts.state == "erred":
                return {"failed": True}
            if ts is not None and ts.state == "memory":  # ended without saying so: take it as the end
                return {"end": len(s.keys)}
            left = deadline - loop.time()
            if left <= 0:
                return {"timeout": True}
            try:
                await asyncio.wait_for(s.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def op_close(self, stream: str) -> None:
        self._close(stream)


_registered: set[str] = set()


def ensure_registered(client: Any) -> None:
    """Install the mailbox on the client's scheduler, once per client."""
    if client.id not in _registered:
        client.register_plugin(GeneratorMailbox(), name=PLUGIN_NAME)
        _registered.add(client.id)


# -- the task side ----------------------------------------------------------------------------


def drain(spec: runtime.TaskSpec, result: Any) -> Any:
    """Run the generator ``result`` of a task to its end, storing each value as a key.

    Returns the number of items (streaming) or a DynamicObjectRefGenerator (dynamic).
    """
    from .._generators import DynamicObjectRefGenerator
    from .._object_ref import ObjectRef

    gen_spec: GeneratorSpec = spec.generator
    worker = runtime.ensure_setup()
    task_key = runtime.current_key() or f"{spec.name}-generator"
    stream = task_key if gen_spec.mode == "streaming" else None
    keys: list[str] = []
    for value in _values(spec, result):
        key = f"{task_key}-{len(keys)}"
        _store(worker, stream, len(keys), key, value, gen_spec.client)
        keys.append(key)
    if stream is not None:
        _scheduler_call(worker, action="end", stream=stream, count=len(keys))
        return len(keys)
    return DynamicObjectRefGenerator([ObjectRef(k) for k in keys])


def _values(spec: runtime.TaskSpec, result: Any) -> Any:
    """The generator's values; an error it raises is the last value, as an ErrorValue."""
    if inspect.isasyncgen(result):
        result = _sync_iter(result)
    elif not inspect.isgenerator(result) and not hasattr(result, "__next__"):
        error = TypeError(
            f"Task {spec.name!r} was run with num_returns={spec.generator.mode!r} but returned "
            f"{type(result).__name__}, not a generator. Use `yield` in the function, or drop num_returns."
        )
        yield runtime.ErrorValue(runtime.wrap_exception(spec.name, error))
        return
    while True:
        try:
            value = next(result)
        except StopIteration:
            return
        except BaseException as exc:  # noqa: BLE001 - the error is the stream's last item
            if runtime._is_cancel(exc):
                raise exceptions.TaskCancelledError(runtime.current_key()) from None
            if isinstance(exc, exceptions.RayTaskError):
                yield runtime.ErrorValue(exc)
            else:
                yield runtime.ErrorValue(runtime.wrap_exception(spec.name, exc))
            return
        try:
            runtime.check_result(spec.name, value, 1)
        except TypeError as exc:
            yield runtime.ErrorValue(runtime.wrap_exception(spec.name, exc))
            return
        yield value


def _sync_iter(agen: Any) -> Any:
    """Step an async generator from this (task) thread, on an event loop of its own."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.close()


def _store(worker: Any, stream: str | None, index: int, key: str, value: Any, client: str) -> None:
    from distributed.utils import sync
    from distributed.worker_state_machine import FreeKeysEvent

    async def store() -> None:
        worker.update_data(data={key: value}, stimulus_id=f"raycompat-generator-{time.time()}")
        reply = await worker.scheduler.raycompat_generator(
            action="item", stream=stream, index=index, key=key, worker=worker.address,
            nbytes=sizeof(value), client=client,
        )
        if reply == "closed":  # the consumer is gone: do not keep the value
            worker.handle_stimulus(FreeKeysEvent(keys=[key], stimulus_id=f"raycompat-generator-closed-{time.time()}"))

    sync(worker.loop, store)


def _scheduler_call(worker: Any, **kwargs: Any) -> Any:
    from distributed.utils import sync

    async def call() -> Any:
        return await worker.scheduler.raycompat_generator(**kwargs)

    return sync(worker.loop, call)


# -- the consumer side ------------------------------------------------------------------------


def next_item(backend: Any, stream: str, index: int, task_future: Any) -> concurrent.futures.Future[dict[str, Any]]:
    """Start waiting for item ``index`` of ``stream``; the future's result is the mailbox's reply.

    The reply holds ``key`` (the item's Dask key), ``end`` (the item count), or ``failed`` /
    ``closed`` when the task failed or was cancelled before producing item ``index``.
    """
    client = backend.client

    async def wait() -> dict[str, Any]:
        while True:
            reply: dict[str, Any] = await client.scheduler.raycompat_generator(
                action="wait", stream=stream, index=index, timeout=WAIT_SLICE
            )
            if not reply.get("timeout"):
                return reply
            if task_future is not None and task_future.status in ("error", "cancelled", "lost"):
                return {"failed": True}

    return asyncio.run_coroutine_threadsafe(wait(), client.loop.asyncio_loop)


def close(backend: Any, stream: str) -> None:
    """Forget the stream; items the task yields from now on are dropped. Never blocks."""
    client = backend.client
    try:
        client.loop.add_callback(client.scheduler.raycompat_generator, action="close", stream=stream)
    except Exception:  # the client is closing: the scheduler forgets the stream with the task
        pass


def done_future(ref: Any) -> concurrent.futures.Future[None]:
    """A future that completes when ``ref`` is ready (or failed), for waiting on mixed sets."""
    from . import driver

    done: concurrent.futures.Future[None] = concurrent.futures.Future()
    if driver.is_ready(ref):
        done.set_result(None)
        return done
    if ref._call is not None:
        return ref._call  # type: ignore[no-any-return]
    future = driver.future_if_stored(ref)

    def finished(_: Any) -> None:
        if not done.done():
            done.set_result(None)

    future.add_done_callback(finished)
    return done
