"""Load: many tasks and large puts, with every result right and memory kept in bounds.

The memory limits are those Ray users can expect (see docs/fault-tolerance.md); they are sizes,
not times, so a slow machine does not fail them.
"""

from __future__ import annotations

import json
import os
import time

from pathlib import Path

import numpy as np
import psutil
import pytest
from conftest import start_load_script

from raycompat._dask import shared_memory

MB = 1024 * 1024


@pytest.mark.timeout(300)
def test_20000_tiny_tasks_keep_the_driver_under_300_mb(load_run, tmp_path):
    # conftest.load_run started tests/load_20000_tasks.py when the run began.
    proc, cwd = load_run or start_load_script(tmp_path)
    proc.wait(timeout=280)
    assert proc.returncode == 0, (cwd / "err.txt").read_text()[-3000:]
    report = json.loads((cwd / "out.txt").read_text().strip().splitlines()[-1])
    assert report["right"]
    assert report["peak_mb"] <= 300, report


def _cluster_rss_mb() -> float:
    """RSS of this driver and every process its embedded cluster started, in MB."""
    me = psutil.Process(os.getpid())
    procs = [me, *me.children(recursive=True)]
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / MB


def _held_mb(shm: Path) -> float:
    """What the cluster holds: its processes' RSS and its shared-memory files, in MB."""
    return _cluster_rss_mb() + sum(f.stat().st_size for f in shm.iterdir()) / MB


def test_a_gigabyte_of_puts_is_released_when_the_refs_are_dropped(ray, tmp_path, monkeypatch):
    shm = tmp_path / "shm"  # stands in for /dev/shm: the puts' files go here
    shm.mkdir()
    monkeypatch.setenv(shared_memory.DIRECTORY_ENV, str(shm))

    @ray.remote
    def total(a):
        return float(a.sum())

    ray.get(total.remote(ray.put(np.ones(MB))))  # the object store is up before the baseline
    baseline = _held_mb(shm)
    refs = [ray.put(np.full(256 * MB // 8, float(i))) for i in range(4)]
    assert ray.get([total.remote(r) for r in refs]) == [float(i * 256 * MB // 8) for i in range(4)]
    held = _held_mb(shm)
    assert held - baseline >= 1024, "the puts should be in the cluster's memory now"
    assert held - baseline < 1.5 * 1024, "one copy of each put, not one per reader"
    del refs

    deadline = time.monotonic() + 30  # memory has no event to wait on: poll it
    while _held_mb(shm) > baseline * 1.10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _held_mb(shm) <= baseline * 1.10, (
        f"memory did not return to within 10% of {baseline:.0f} MB: {_held_mb(shm):.0f} MB"
    )
