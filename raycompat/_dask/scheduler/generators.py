"""The scheduler's side of generator tasks: a mailbox of the keys each generator yielded.

A generator task stores each value it yields in its worker and files the value's key here,
in the *stream* named after the task's key; the caller long-polls for item ``i``. The task's
own result is the number of items. A closed stream (its reader gone) drops the items still
coming.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import dask_private
from .extension import Changed, Extension

WAIT_SLICE = 5.0  # seconds per mailbox long-poll before the consumer checks its task itself
CLOSED_MEMORY = 600.0  # seconds a closed stream is remembered, so late items are dropped


@dataclass
class _Stream:
    keys: list[str] = field(default_factory=list)
    count: int | None = None  # set when the generator has ended
    changed: Changed = field(default_factory=Changed)


class GeneratorMailbox(Extension):
    """Scheduler extension: the streams of running generator tasks.

    Routes:

    * ``raycompat_generator_item``: a task stored an item: make it Dask data its consumer
      wants and file it; False if the stream is closed (the task then drops the value).
    * ``raycompat_generator_end``: the generator ended after ``count`` items.
    * ``raycompat_generator_wait``: long-poll for item ``index``: ``{"key": ...}``,
      ``{"end": count}``, ``{"failed": True}``, ``{"closed": True}``, or None at the deadline.
    * ``raycompat_generator_close``: the consumer is gone: forget the stream.
    """

    name = "raycompat-generators"

    def __init__(self) -> None:
        super().__init__()
        self.streams: dict[str, _Stream] = {}
        self.closed: dict[str, float] = {}  # stream -> when it was closed

    def routes(self) -> dict[str, Callable[..., Any]]:
        return {
            "raycompat_generator_item": self.item,
            "raycompat_generator_end": self.end,
            "raycompat_generator_wait": self.wait,
            "raycompat_generator_close": self.close_stream,
        }

    # -- routes ---------------------------------------------------------------------------------

    def item(self, stream: str | None, index: int, key: str, worker: str, nbytes: int, client: str) -> bool:
        """A task stored item ``index`` under ``key`` in ``worker``: make it data ``client`` wants."""
        if stream is not None and stream in self.closed:
            return False
        dask_private.update_data(self.scheduler, {key: [worker]}, {key: nbytes}, client)
        if stream is not None:
            s = self._stream(stream)
            if index == len(s.keys):  # a retried task yields its items again: keep the first
                s.keys.append(key)
                s.changed.notify()
        return True

    def end(self, stream: str, count: int) -> None:
        if stream in self.closed:
            return
        s = self._stream(stream)
        s.count = count
        s.changed.notify()

    async def wait(self, stream: str, index: int, timeout: float = WAIT_SLICE) -> dict[str, Any] | None:
        """Wait until item ``index`` exists, the stream ends, or its task fails."""
        if stream in self.closed:
            return {"closed": True}
        return await self._stream(stream).changed.wait_until(lambda: self._look(stream, index), timeout)

    def close_stream(self, stream: str) -> None:
        s = self.streams.pop(stream, None)
        now = time.monotonic()
        self.closed[stream] = now
        for old in [k for k, t in self.closed.items() if t < now - CLOSED_MEMORY]:
            del self.closed[old]
        if s is not None:
            s.changed.notify()

    # -- scheduler hooks ----------------------------------------------------------------------

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        s = self.streams.get(key) if isinstance(key, str) else None
        if s is None:
            return
        if finish == "forgotten":  # nobody holds the generator any more
            self.close_stream(key)
        s.changed.notify()

    # -- helpers ------------------------------------------------------------------------------

    def _stream(self, stream: str) -> _Stream:
        s = self.streams.get(stream)
        if s is None:
            s = self.streams[stream] = _Stream()
        return s

    def _look(self, stream: str, index: int) -> dict[str, Any] | None:
        """What a reader waiting for item ``index`` learns now; None: nothing yet."""
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
        return None
