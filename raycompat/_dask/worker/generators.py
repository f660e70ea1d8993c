"""The worker's side of generator tasks: every yielded value becomes a Dask key of its own.

A generator task's Dask function is ``run_generator_task``: ``run_task`` that drains the
generator the user's function returns, in its worker. For each value it stores the value in
that worker (``Worker.update_data``) and files the key in the scheduler's mailbox
(``scheduler/generators.py``), which makes the key Dask data wanted by the consumer's client.
An error raised by the generator becomes the next item (reading it raises the error), as in Ray.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from dask.sizeof import sizeof
from distributed.utils import sync

from ... import exceptions
from .. import dask_private
from ..protocol import ErrorValue, TaskSpec
from ..refs import DynamicObjectRefGenerator, ObjectRef
from . import tasks
from .calls import check_result, wrap_exception


def run_generator_task(spec_blob: bytes, *deps: Any) -> Any:
    """Run one generator task inside a Dask worker thread, storing each yielded value as a key."""
    return tasks.run(spec_blob, deps, drain)


def drain(spec: TaskSpec, result: Any) -> Any:
    """Run the generator ``result`` of a task to its end, storing each value as a key.

    Returns the number of items (streaming) or a DynamicObjectRefGenerator (dynamic).
    """
    gen_spec = spec.generator
    assert gen_spec is not None
    worker = tasks.ensure_setup()
    task_key = tasks.current_key() or f"{spec.name}-generator"
    stream = task_key if gen_spec.mode == "streaming" else None
    keys: list[str] = []
    for value in _values(spec, result):
        key = f"{task_key}-{len(keys)}"
        _store(worker, stream, len(keys), key, value, gen_spec.client)
        keys.append(key)
    if stream is not None:
        _end(worker, stream, len(keys))
        return len(keys)
    return DynamicObjectRefGenerator([ObjectRef(k) for k in keys])


def _values(spec: TaskSpec, result: Any) -> Any:
    """The generator's values; an error it raises is the last value, as an ErrorValue."""
    if inspect.isasyncgen(result):
        result = _sync_iter(result)
    elif not inspect.isgenerator(result) and not hasattr(result, "__next__"):
        error = TypeError(
            f"Task {spec.name!r} was run with num_returns={spec.generator.mode!r} but returned "
            f"{type(result).__name__}, not a generator. Use `yield` in the function, or drop num_returns."
        )
        yield ErrorValue(wrap_exception(spec.name, error))
        return
    while True:
        try:
            value = next(result)
        except StopIteration:
            return
        except BaseException as exc:  # noqa: BLE001 - the error is the stream's last item
            if tasks.is_cancel(exc):
                raise exceptions.TaskCancelledError(tasks.current_key()) from None
            if isinstance(exc, exceptions.RayTaskError):
                yield ErrorValue(exc)
            else:
                yield ErrorValue(wrap_exception(spec.name, exc))
            return
        try:
            check_result(spec.name, value, 1)
        except TypeError as exc:
            yield ErrorValue(wrap_exception(spec.name, exc))
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
    async def store() -> None:
        dask_private.store_in_worker(worker, {key: value})
        filed = await worker.scheduler.raycompat_generator_item(
            stream=stream, index=index, key=key, worker=worker.address, nbytes=sizeof(value), client=client
        )
        if not filed:  # the consumer is gone: do not keep the value
            dask_private.free_in_worker(worker, [key])

    sync(worker.loop, store)


def _end(worker: Any, stream: str, count: int) -> None:
    """Tell the mailbox that ``stream`` ended after ``count`` items."""
    async def end() -> None:
        await worker.scheduler.raycompat_generator_end(stream=stream, count=count)

    sync(worker.loop, end)
