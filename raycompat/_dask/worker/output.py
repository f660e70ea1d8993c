"""Output forwarding: what a task or actor call prints reaches its driver, with Ray's prefix.

``setup_worker`` (tasks.py) replaces the worker's sys.stdout and sys.stderr with a TaskStream.
Lines written while a task or actor call runs are logged as events on ``OUTPUT_TOPIC``; the
driver subscribes to it and prints each line as ``(name pid=...) text``.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from typing import Any

from .. import task_context
from ..protocol import OUTPUT_TOPIC


class TaskStream(io.TextIOBase):
    """sys.stdout/stderr of a worker: lines a task writes go to its driver, the rest pass through."""

    def __init__(self, real: Any, stream: str) -> None:
        self._real = real
        self._stream = stream
        self._buffers = threading.local()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._real, "encoding", "utf-8")

    def fileno(self) -> int:
        return int(self._real.fileno())

    def write(self, text: str) -> int:
        context = task_context.current()
        if context.job_id is None or not context.log_to_driver or task_context.this_worker() is None:
            return int(self._real.write(text))
        pending = getattr(self._buffers, "text", "") + text
        *lines, rest = pending.split("\n")
        self._buffers.text = rest
        if lines:
            self._emit(lines)
        return len(text)

    def flush(self) -> None:
        rest = getattr(self._buffers, "text", "")
        if rest and task_context.current().job_id is not None:
            self._buffers.text = ""
            self._emit([rest])
        self._real.flush()

    def _emit(self, lines: list[str]) -> None:
        context = task_context.current()
        prefix = context.actor.class_name if context.actor is not None else context.name
        msg = {
            "job": context.job_id,
            "stream": self._stream,
            "prefix": f"({prefix} pid={os.getpid()})",
            "lines": lines,
        }
        try:
            task_context.this_worker().log_event(OUTPUT_TOPIC, msg)
        except Exception:  # the worker is closing: print locally rather than lose the line
            self._real.write("\n".join(lines) + "\n")


def flush_task_output() -> None:
    """Send what the running task or call printed without a final newline."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, TaskStream):
            stream.flush()
