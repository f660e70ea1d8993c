"""What every raycompat scheduler extension shares: named routes, a change notifier, long polls.

An extension is a ``SchedulerPlugin``. Started on the scheduler, it adds its operations to
``scheduler.handlers`` under names of its own, as Dask's own extensions do
(``distributed/event.py``, ``distributed/semaphore.py``); a client then calls
``client.scheduler.raycompat_actor_create(...)``, a worker ``worker.scheduler.raycompat_...(...)``.
Each extension lists its routes in its class docstring and in ``routes()``.

The scheduler's event loop runs a route without interruption until it awaits, so each route is
atomic: two actors can never take one name. A route that waits for a state (an actor alive, a
generator's next item) long-polls with ``Changed.wait_until``: it re-checks whenever the state
changes, and gives up at a deadline so that the caller can look around and ask again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from distributed.diagnostics.plugin import SchedulerPlugin

T = TypeVar("T")


class Changed:
    """Wakes everyone waiting on it each time ``notify()`` is called."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake the current waiters; later waiters wait for the next notify."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, check: Callable[[], T], timeout: float) -> T | None:
        """Return the first true result of ``check()``, re-checked after each notify.

        Returns None if ``check()`` is still false ``timeout`` seconds from now.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := check()):
            left = deadline - loop.time()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self._event.wait(), left)
            except asyncio.TimeoutError:
                pass  # check once more, then give up
        return result


class Extension(SchedulerPlugin):
    """A scheduler plugin whose operations are routes in ``scheduler.handlers``.

    Subclasses set ``name`` (the plugin's name, so it is installed once per scheduler) and
    return ``{route name: method}`` from ``routes()``; they are constructed in a client and
    travel to the scheduler pickled.
    """

    idempotent = True
    name = ""

    def __init__(self) -> None:
        self.scheduler: Any = None

    def routes(self) -> dict[str, Callable[..., Any]]:
        """The scheduler handlers this extension adds, by route name."""
        raise NotImplementedError

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        scheduler.handlers.update(self.routes())
