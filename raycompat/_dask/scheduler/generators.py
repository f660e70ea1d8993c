"""The scheduler's side of generator tasks: a mailbox of the keys each generator yielded.

A generator task stores each value it yields in its worker and files the value's key here
(``item``), in the *stream* named after the task's key; the caller long-polls for item ``i``
(``wait``). The task's own result is the number of items. A closed stream (its reader gone)
drops the items still coming.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

PLUGIN_NAME = "raycompat-generators"
HANDLER = "raycompat_generator"
WAIT_SLICE = 5.0  # seconds per mailbox long-poll before the consumer checks its task itself
CLOSED_MEMORY = 600.0  # seconds a closed stream is remembered, so late items are dropped


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
