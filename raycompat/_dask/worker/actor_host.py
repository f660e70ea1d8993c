"""The actor host: the process that owns one actor instance and serves calls to it.

Ray gives every actor its own process; Dask runs all actors of a worker on one thread and
sends their calls over pooled connections, out of order. So each raycompat actor lives in its
own *actor host*: a Dask worker process (a HostWorker, so its results are ordinary Dask data
that tasks can depend on, and the scheduler never gives it tasks) that serves the actor over
one connection per caller handle. One TCP stream per handle keeps Ray's ordering promise by
construction: calls are read, and started, in the order they were sent. Each call runs in the
loop of calls.py, as a task does. Starting and restarting host processes is _dask/actor_host.py.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import cloudpickle
from dask.sizeof import sizeof
from distributed.comm import CommClosedError
from distributed.core import Status
from distributed.protocol import to_serialize

from ... import exceptions
from .. import dask_private, task_context
from ..protocol import (
    ASSIGN_OP,
    CONNECT_OP,
    EXIT_OP,
    READY,
    RELEASE,
    SPARE,
    TERMINATE,
    ActorCall,
    ActorReply,
    ActorSpec,
    ErrorValue,
)
from ..task_context import TaskContext
from . import calls
from .output import flush_task_output
from .tasks import unpack_args

logger = logging.getLogger("raycompat")

INLINE_REPLY_LIMIT = 1024 * 1024  # results up to this size travel in the reply only
RECORDS_INTERVAL = 0.2  # seconds between batches of task-stream records for the dashboard


class Host:
    """Owns the actor instance in this process and serves calls to it."""

    def __init__(self, worker: Any, actor_id: str, incarnation: int) -> None:
        self.worker = worker
        self.actor_id = actor_id
        self.incarnation = incarnation
        self.ready = asyncio.Event()
        self.instance: Any = None
        self.init_error: str | None = None
        self.spec: ActorSpec | None = None
        self.is_async = False
        self.executor: ThreadPoolExecutor | None = None
        self.actor_loop: asyncio.AbstractEventLoop | None = None
        self.semaphore: asyncio.Semaphore | None = None
        self.records: list[dict[str, Any]] = []
        self.records_sender: asyncio.Future[None] | None = None
        self.killed: str | None = None  # set by ray.kill(): later calls fail at once
        self.running: set[asyncio.Future[Any]] = set()  # user calls started and not finished
        self.entry: dict[str, Any] = {}  # the registry's description: name, methods...

    @property
    def actor_name(self) -> str:
        return str(self.entry.get("name") or "")

    # -- start-up ---------------------------------------------------------------------------

    async def start(self) -> None:
        reply = await self.worker.scheduler.raycompat_actor_spec(actor_id=self.actor_id)
        if reply["state"] == "dead" or reply["incarnation"] != self.incarnation:
            os._exit(0)  # killed, or superseded, before it started
        spec: ActorSpec = cloudpickle.loads(reply["spec"])
        self.spec = spec
        self.entry = reply.get("actor") or {}
        os.environ.update(spec.env_vars)
        error = None
        try:
            cls = cloudpickle.loads(spec.cls_blob)
            self.is_async = any(
                inspect.iscoroutinefunction(m) or inspect.isasyncgenfunction(m)
                for _, m in inspect.getmembers(cls, inspect.isfunction)
            )
            threads = spec.max_concurrency or (1000 if self.is_async else 1)
            self.executor = ThreadPoolExecutor(1 if self.is_async else threads, thread_name_prefix="actor")
            if self.is_async:
                self._start_actor_loop(threads)
            loop = asyncio.get_running_loop()
            self.instance = await loop.run_in_executor(self.executor, self._construct, cls, spec)
        except exceptions.RayTaskError as exc:
            error = str(exc)
        except BaseException as exc:  # noqa: BLE001 - reported to every caller as ActorDiedError
            error = str(calls.wrap_exception(f"{spec.class_name}.__init__", exc))
        if error is not None:
            error = "The actor died because of an error raised in its creation task, " + error
        self.init_error = error
        await self.worker.scheduler.raycompat_actor_started(
            actor_id=self.actor_id, address=self.worker.address, pid=os.getpid(), error=error
        )
        self.ready.set()

    def _start_actor_loop(self, max_concurrency: int) -> None:
        loop = asyncio.new_event_loop()
        self.actor_loop = loop
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self.semaphore = asyncio.Semaphore(max_concurrency)
            started.set()
            loop.run_forever()

        threading.Thread(target=run, name="actor-event-loop", daemon=True).start()
        started.wait()

    def _construct(self, cls: type, spec: ActorSpec) -> Any:
        # The worker's client, made default: distributed.get_client() and Events work in methods.
        dask_private.worker_client(self.worker, timeout=30)
        with self._context(f"{spec.class_name}.__init__"):
            args, kwargs = unpack_args(spec.args_blob, ())
            try:
                return cls(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001
                raise calls.wrap_exception(f"{spec.class_name}.__init__", exc, self._actor_repr()) from None

    def _actor_repr(self) -> str:
        assert self.spec is not None
        return f"<{self.spec.class_name} actor {self.actor_id[:12]}>"

    @contextmanager
    def _context(self, name: str) -> Iterator[None]:
        """Run the block as a call of this actor: output prefixes, nested calls' job and namespace."""
        spec = self.spec
        assert spec is not None
        context = TaskContext(
            job_id=spec.job_id, name=name, log_to_driver=spec.log_to_driver, namespace=spec.namespace, actor=self
        )
        with task_context.running(context):
            try:
                yield
            finally:
                flush_task_output()

    @property
    def class_name(self) -> str:
        return self.spec.class_name if self.spec else "Actor"

    def _method_name(self, msg: ActorCall) -> str:
        return f"{self.spec.class_name}.{msg.method}" if self.spec else msg.method

    # -- serving ------------------------------------------------------------------------------

    async def handle_connect(self, comm: Any, incarnation: int = 0, **kwargs: Any) -> Any:
        """Serve one caller handle: read its calls in order, reply as each finishes."""
        write_lock = asyncio.Lock()
        pending: set[asyncio.Task[Any]] = set()
        try:
            await self.ready.wait()
            while True:
                msgs = await comm.read()
                for message in msgs if isinstance(msgs, (list, tuple)) else [msgs]:
                    msg = ActorCall(**message)
                    if msg.incarnation != self.incarnation:
                        async with write_lock:
                            await comm.write(vars(ActorReply(msg.call, stale=True)))
                        continue
                    started = self._begin(msg)  # starts the call now, in arrival order
                    task = asyncio.ensure_future(self._finish(comm, write_lock, msg, started))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
        except CommClosedError:  # the caller went away; its calls already started still complete
            pass
        except Exception:
            logger.exception("raycompat actor host: serving a caller failed")
        return Status.dont_reply

    def _begin(self, msg: ActorCall) -> Any:
        """Start one call: submit it to the actor's thread(s) or event loop, in order."""
        start = time.time()
        method = msg.method
        if self.init_error is not None:
            return _failed(exceptions.ActorDiedError(self.init_error))
        if self.killed is not None:
            return _failed(exceptions.ActorDiedError(self.killed))
        if method == RELEASE:  # ends after the calls before it
            return self._when_calls_finish(), start
        if method == TERMINATE:  # runs after the calls before it; the ones after it fail
            self.killed = "The actor is dead because it was terminated by __ray_terminate__()."
            return self._when_calls_finish(), start
        if method == READY:
            return self._when_calls_finish(True), start
        fn = getattr(self.instance, method, None)
        if fn is None:
            return _failed(AttributeError(f"'{self.class_name}' actor has no method {method!r}."))
        if self.is_async:
            assert self.actor_loop is not None
            future = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._run_async(fn, msg), self.actor_loop))
        else:
            assert self.executor is not None
            future = asyncio.wrap_future(self.executor.submit(self._run_sync, fn, msg))
        self.running.add(future)
        future.add_done_callback(self.running.discard)
        return future, start

    def _when_calls_finish(self, value: Any = None) -> asyncio.Future[Any]:
        """A future that gives ``value`` once every call started so far has finished."""
        started = list(self.running)

        async def finished() -> Any:
            if started:
                await asyncio.wait(started)
            return value

        return asyncio.ensure_future(finished())

    def _call(self, msg: ActorCall) -> calls.Call:
        """The call ``msg`` asks for, with the retry rules its caller set."""
        return calls.Call(
            self._method_name(msg),
            num_returns=msg.num_returns,
            max_retries=msg.max_retries,
            retry_exceptions=msg.retry_exceptions,
            actor_repr=self._actor_repr(),
        )

    def _run_sync(self, fn: Callable[..., Any], msg: ActorCall) -> Any:
        call = self._call(msg)
        with self._context(call.name):
            return calls.run(call, fn, lambda: unpack_args(msg.args, ()))

    async def _run_async(self, fn: Callable[..., Any], msg: ActorCall) -> Any:
        assert self.semaphore is not None
        call = self._call(msg)
        async with self.semaphore:
            with self._context(call.name):
                loop = asyncio.get_running_loop()
                for attempt in calls.attempts(call):
                    # Arguments may need get(), which blocks: resolve them off the event loop.
                    args, kwargs = await loop.run_in_executor(None, unpack_args, msg.args, ())
                    with attempt:
                        result = fn(*args, **kwargs)
                        if inspect.isawaitable(result):
                            result = await result
                        return calls.check_result(call.name, result, call.num_returns)
        raise AssertionError("unreachable: each try returns or raises")

    async def _finish(self, comm: Any, write_lock: asyncio.Lock, msg: ActorCall, started: Any) -> None:
        future, start = started
        keys = msg.keys
        exiting = False
        reply = ActorReply(msg.call)
        try:
            try:
                result = await future
            except calls.Exiting as exc:  # the method ended the actor
                exiting = True
                self.killed = f"The actor is dead because its method {msg.method} called {exc}."
                raise exceptions.ActorDiedError(self.killed) from None
            values = list(result) if len(keys) > 1 else [result]
        except BaseException as exc:  # noqa: BLE001 - the error is the call's result
            # Dask would pickle the exception it was raised from, which may not unpickle.
            exc.__context__ = exc.__cause__ = None
            values = [ErrorValue(exc)] * len(keys)
            reply.error = to_serialize(exc)
        self._record(keys, msg, start, time.time())
        small = [sizeof(v) <= INLINE_REPLY_LIMIT for v in values]
        if reply.error is None:
            reply.values = [to_serialize(v) if ok else None for v, ok in zip(values, small)]
            reply.inline = small
        if reply.error is None and not all(small):
            # Large results stay here as Dask data, known to the scheduler before the reply.
            # Small ones and errors travel in the reply only; the caller stores them in the
            # cluster if its ref ever leaves the process (refs.reduce_ref).
            dask_private.store_in_worker(self.worker, dict(zip(keys, values)))
            await self._register(keys, values, msg.client)
        try:
            async with write_lock:
                await comm.write(vars(reply))
        except CommClosedError:  # the caller went away (its driver ended): no one to tell
            pass
        if msg.method == RELEASE:
            entry = await self.worker.scheduler.raycompat_actor_release(actor_id=self.actor_id)
            if entry and entry.get("state") == "dead":
                self.killed = entry.get("error")
                asyncio.get_running_loop().call_later(0.05, os._exit, 0)
        if msg.method == TERMINATE or exiting:
            await self.worker.scheduler.raycompat_actor_kill(
                actor_id=self.actor_id, no_restart=True,
                reason=self.killed,
            )
            asyncio.get_running_loop().call_later(0.05, os._exit, 0)

    def _record(self, keys: list[str], msg: ActorCall, start: float, stop: float) -> None:
        """Note the call for the dashboard's task stream; sent in batches (_send_records)."""
        name = self._method_name(msg)
        for key in keys:
            self.records.append({"key": key, "name": name, "start": start, "stop": stop})
        if self.records_sender is None or self.records_sender.done():
            self.records_sender = asyncio.ensure_future(self._send_records())

    async def _send_records(self) -> None:
        await asyncio.sleep(RECORDS_INTERVAL)
        records, self.records = self.records, []
        if records:
            await self.worker.scheduler.raycompat_keys_record_calls(
                worker=self.worker.address, records=records
            )

    async def _register(self, keys: list[str], values: list[Any], client: str) -> None:
        """Tell the scheduler the results exist here, so tasks and other clients can use them."""
        await self.worker.scheduler.raycompat_keys_stored(
            who_has={k: [self.worker.address] for k in keys},
            nbytes={k: sizeof(v) for k, v in zip(keys, values)},
            client=client,
        )

    async def handle_assign(self, comm: Any = None, actor_id: str = "", incarnation: int = 0) -> str:
        """A spare host becomes the host of ``actor_id``."""
        if self.actor_id != SPARE:
            return "taken"
        self.actor_id, self.incarnation = actor_id, incarnation
        asyncio.ensure_future(self.start())
        return "OK"

    async def handle_exit(self, comm: Any = None, reason: str = "", **kwargs: Any) -> None:
        self.killed = reason or "The actor is dead because it was killed by `ray.kill`."
        asyncio.get_running_loop().call_later(0.05, os._exit, 0)


def _failed(exc: BaseException) -> tuple[asyncio.Future[Any], float]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future, time.time()


def setup(worker: Any, actor_id: str, incarnation: int) -> Host:
    """Turn this worker process into the host of ``actor_id`` (or a spare, for ``SPARE``)."""
    host = Host(worker, actor_id, incarnation)
    worker.handlers[CONNECT_OP] = host.handle_connect
    worker.handlers[EXIT_OP] = host.handle_exit
    if actor_id == SPARE:
        worker.handlers[ASSIGN_OP] = host.handle_assign
        # Make the worker's client while idle: actors use it for get(), put() and tasks.
        asyncio.get_running_loop().run_in_executor(None, _make_client_quietly, worker)
    else:
        asyncio.ensure_future(host.start())
    return host


def _make_client_quietly(worker: Any) -> None:
    """Make the worker's client ahead of need; the cluster may close first, and that is fine."""
    try:
        dask_private.worker_client(worker, timeout=30)
    except Exception:  # noqa: BLE001 - an actor that is assigned later makes it again, or says why
        logger.debug("the spare host could not make its client yet", exc_info=True)
