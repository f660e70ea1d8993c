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
import time
import urllib.parse

import pytest

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


def test_dashboard_shows_running_tasks_under_their_function_names(ray, ray_session):
    url = ray_session.dashboard_url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/status", url)
    base = url.rsplit("/", 1)[0]

    @ray.remote
    def slow_square(x):
        time.sleep(4)
        return x * x

    refs = [slow_square.remote(i) for i in range(2)]
    try:
        ray.wait(refs, timeout=0.5)
        status = dump_dom(url)
        assert "Dask Diagnostic UI" in status and "Task Stream" in status
        workers = dump_dom(f"{base}/info/main/workers.html")
        pages = sorted(set(re.findall(r'href="\.\./worker/([^"]+)\.html"', workers)))
        assert len(pages) >= 2, workers[:2000]  # the task workers, and any actor or store process
        text = "".join(dump_dom(f"{base}/info/worker/{page}.html") for page in pages)
        assert text.count("slow_square-") >= 2, text[:3000]
        assert not re.search(r"run_task-|execute_task-", text)
    finally:
        assert ray.get(refs) == [0, 1]
