"""The dashboard from init() is Dask's, on 127.0.0.1, and shows tasks under the user's names.

It loads pages in Debian's headless ``chromium`` (installed by .ci/run). The task-stream and
progress plots on /status are canvas, so the names are checked on the pages that print them
as text: the worker pages of /info, which list each worker's tasks by key (``slow_square-<hex>``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import urllib.parse

import pytest
from distributed import Event

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def dump_dom(url: str, budget_ms: int = 1000) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_dashboard_shows_running_tasks_under_their_function_names(ray, ray_session, make_event):
    url = ray_session.dashboard_url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/status", url)
    base = url.rsplit("/", 1)[0]
    started, release = [make_event(), make_event()], make_event()

    @ray.remote
    def slow_square(x, started_name, release_name):
        Event(started_name).set()
        Event(release_name).wait(60)
        return x * x

    refs = [slow_square.remote(i, started[i].name, release.name) for i in range(2)]
    try:
        assert all(event.wait(60) for event in started)  # both run now, one on each worker
        status = dump_dom(url)
        assert "Dask Diagnostic UI" in status and "Task Stream" in status
        workers = dump_dom(f"{base}/info/main/workers.html")
        pages = set(re.findall(r'href="\.\./worker/([^"]+)\.html"', workers))
        task_workers = {urllib.parse.quote(a, safe="") for a in _task_worker_addresses()}
        assert task_workers <= pages, workers[:2000]  # listed with any actor or store process
        text = "".join(dump_dom(f"{base}/info/worker/{page}.html") for page in sorted(task_workers))
        assert text.count("slow_square-") >= 2, text[:3000]
        assert not re.search(r"run_task-|execute_task-", text)
    finally:
        release.set()
        assert ray.get(refs) == [0, 1]


def _task_worker_addresses() -> list[str]:
    import raycompat

    scheduler = raycompat._session.current().cluster.scheduler
    return [ws.address for ws in list(scheduler.workers.values()) if str(ws.name).startswith("worker-")]
