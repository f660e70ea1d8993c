"""Ctrl-C while the driver waits on the cluster: raised where it is safe, not where it lands.

Python raises KeyboardInterrupt at whatever line the main thread runs when the signal comes.
If that line is inside the taking of a lock the event loop thread also takes (a future's
condition, the wait engine's), the lock stays taken and the event loop hangs on it for good:
the next ``get()``, or ``shutdown()`` at the latest, never returns. So while the main thread
waits on the cluster (between ``hold()`` and ``release()``), Ctrl-C is only recorded; the wait
hands it on (``deliver()``) between two slices of waiting, where no lock is held, and at the
latest when it ends. Submitting (``held``) is short: Ctrl-C waits until the call has returned. It goes to the handler the program had: Python's own raises
KeyboardInterrupt, as in Ray.

The recording handler is put in front of the program's on the first wait and taken away by
``uninstall()`` at shutdown; a handler the program sets later replaces it, and takes Ctrl-C
straight away, as before.
"""

from __future__ import annotations

import functools
import signal
import threading
from types import FrameType
from typing import Any, Callable, TypeVar

Handler = Callable[[int, "FrameType | None"], Any]
F = TypeVar("F", bound=Callable[..., Any])

_installed = False
_program_handler: Handler | None = None  # the handler the recording one stands in front of
_depth = 0  # how many waits the main thread is in
_received: list[tuple[int, FrameType | None]] = []


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if _depth:
        _received.append((signum, frame))
    elif _program_handler is not None:
        _program_handler(signum, frame)


def _install() -> None:
    global _installed, _program_handler
    _installed = True
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):  # not ignored, nor the system default: Python runs it
        _program_handler = handler
        signal.signal(signal.SIGINT, _on_sigint)


def uninstall() -> None:
    """Give Ctrl-C back to the program's handler (``shutdown()``)."""
    global _installed, _program_handler
    if threading.current_thread() is not threading.main_thread():
        return
    if _program_handler is not None and signal.getsignal(signal.SIGINT) is _on_sigint:
        signal.signal(signal.SIGINT, _program_handler)
    _installed, _program_handler = False, None


def hold() -> None:
    """From now until ``release()``, record Ctrl-C instead of raising it (main thread only)."""
    global _depth
    if threading.current_thread() is threading.main_thread():
        if not _installed:
            _install()
        _depth += 1


def release() -> None:
    """End a ``hold()``; hand on a Ctrl-C received during it."""
    global _depth
    if threading.current_thread() is threading.main_thread():
        _depth -= 1
        if not _depth:
            deliver()


def deliver() -> None:
    """Run the program's handler now for a Ctrl-C received since the wait began."""
    if _received:
        signum, frame = _received[-1]
        _received.clear()
        if _program_handler is not None:
            _program_handler(signum, frame)


def held(fn: F) -> F:
    """Run ``fn`` (a short call into Dask, such as a submission) with Ctrl-C held back to its end."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        hold()
        try:
            return fn(*args, **kwargs)
        finally:
            release()

    return call  # type: ignore[return-value]
