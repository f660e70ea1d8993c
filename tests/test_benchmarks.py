"""The benchmark harness runs end to end on tiny sizes: every workload reports a ratio or a skip.

No timing assertions: speed is measured by ``python benchmarks/run.py``, not by tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "benchmarks", "run.py")


@pytest.mark.timeout(90)
def test_harness_reports_every_workload_with_a_ratio(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, RUN, "--tiny", "--json", str(out)],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())

    sys.path.insert(0, os.path.dirname(RUN))
    try:
        import run as harness
    finally:
        sys.path.pop(0)
    rows = {row["name"]: row for row in report["workloads"]}
    assert set(rows) == {w.name for w in harness.WORKLOADS}
    for name, row in rows.items():
        assert "error" not in row, f"{name}: {row['error']}"
        if row.get("skipped"):
            continue  # e.g. actors, while they are not there yet: the reason is in the row
        assert isinstance(row["ratio_dask"], float), f"{name} has no raycompat/Dask ratio: {row}"
        assert row["ratio_dask"] > 0
    assert report["machine"]["cpus"] and report["dask_cluster"] == "same"
    assert "| workload |" in proc.stdout
