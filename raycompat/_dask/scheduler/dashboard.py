"""The embedded scheduler's dashboard, loaded after ``init()`` instead of during it.

Dask's dashboard imports Bokeh, a quarter of a second of CPU that ``init()`` would otherwise
spend while its workers start on the same cores. The scheduler's HTTP server listens from the
start; the Bokeh pages are added by a background thread once the workers have joined. A page
asked for in between waits for them (at most ``WAIT_S``) and is then served normally.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

from tornado import web

from .. import dask_private

logger = logging.getLogger(__name__)

WAIT_S = 30.0


class _WaitForDashboard(web.RequestHandler):
    """Any page not served yet: wait until the dashboard is in place, then ask again."""

    def initialize(self, ready: asyncio.Event) -> None:
        self.ready = ready

    async def get(self, *_: Any) -> None:
        try:
            await asyncio.wait_for(self.ready.wait(), WAIT_S)
        except asyncio.TimeoutError:
            raise web.HTTPError(503, reason="The dashboard is still starting") from None
        self.redirect(self.request.uri or "/")


def defer(scheduler: Any) -> Callable[[], None]:
    """Hold the dashboard's pages of ``scheduler``; return the function that loads them.

    Call it on the scheduler's event loop, before its HTTP server gets requests. The returned
    function, callable from any thread, imports the dashboard in a background thread and adds it.
    """
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    waiting = web.Application([(r"/(.*)", _WaitForDashboard, {"ready": ready})])
    dask_private.add_http_pages(scheduler, waiting)

    def connect(dashboard: Any) -> None:
        dask_private.remove_http_pages(scheduler, waiting)
        try:
            if dashboard is not None and scheduler.status.name not in ("closing", "closed"):
                dask_private.connect_dashboard(scheduler, dashboard)
        finally:
            ready.set()

    def load() -> None:
        try:
            import distributed.dashboard.scheduler as dashboard
        except ImportError:  # Bokeh missing, or a version Dask does not support
            logger.debug("no dashboard", exc_info=True)
            dashboard = None
        try:
            loop.call_soon_threadsafe(connect, dashboard)
        except RuntimeError:  # the loop has closed: the session ended first
            pass

    def start() -> None:
        threading.Thread(target=load, name="raycompat-dashboard", daemon=True).start()

    return start
