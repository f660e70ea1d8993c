"""What both workload modules share: sizes, timing, memory probes and the command line.

This module imports neither ray, raycompat nor distributed, so that it runs unchanged under
any interpreter (the real Ray one in particular). Functions that run *inside* tasks are not
here: workers cannot import this folder, so each workload module defines its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
import traceback
from typing import Any, Callable

MB = 1024 * 1024

# Workload sizes. --quick keeps every workload but the 1 GB one and repeats less; --tiny is for
# the smoke test only: every workload runs, on sizes too small to mean anything.
_FULL: dict[str, Any] = {
    "reps": 2,
    "roundtrip": 500,
    "tasks_small": 2_000,
    "tasks_large": 10_000,
    "chain": 500,
    "small_put": 2_000,
    "big_mb": 100,
    "huge_mb": 1024,
    "ref_tasks": 10,
    "actor_sync": 500,
    "actor_pipelined": 1_000,
    "actor_timeout": 30,
    "wait_refs": 1_000,
    "cpu_tasks": 16,
    "cpu_seconds": 0.5,
    "rss_tasks": 20_000,
    "gather": 20_000,
    "get_cost_1k": 1_000,
    "get_cost_5k": 5_000,
    "get_cost_20k": 20_000,
    "df_mb": 100,
    "df_columns": 13,
    "quicksort": 4_000_000,
    "quicksort_split": 12,  # a part of at most 1/12 of the whole is sorted in place: depth 4
}

SIZES: dict[str, dict[str, Any]] = {
    "full": _FULL,
    # --quick: 5,000-task gathers (the rows keep their names; the labels say 5,000): at ~400 tasks/s
    # here, two 20,000-task gathers per backend would cost --quick some 3 minutes on their own.
    "quick": {**_FULL, "reps": 1, "roundtrip": 300, "small_put": 1_000, "actor_sync": 300, "huge_mb": 0,  # 0: skipped
              "gather": 5_000},
    "tiny": {
        "reps": 1,
        "roundtrip": 10,
        "tasks_small": 40,
        "tasks_large": 80,
        "chain": 10,
        "small_put": 20,
        "big_mb": 1,
        "huge_mb": 2,
        "ref_tasks": 3,
        "actor_sync": 10,
        "actor_pipelined": 20,
        "actor_timeout": 8,
        "wait_refs": 20,
        "cpu_tasks": 4,
        "cpu_seconds": 0.02,
        "rss_tasks": 200,
        "gather": 100,
        "get_cost_1k": 20,
        "get_cost_5k": 50,
        "get_cost_20k": 100,
        "df_mb": 1,
        "df_columns": 13,
        "quicksort": 40_000,
        "quicksort_split": 12,
    },
}


# -- timing ------------------------------------------------------------------------------------


def best_of(reps: int, run: Callable[[], float]) -> float:
    """Run ``run`` (which returns seconds) ``reps`` times and return the median."""
    return statistics.median(run() for _ in range(max(1, reps)))


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def busy_iterations(seconds: float) -> int:
    """How many iterations of the benchmark's busy loop take ``seconds`` here, now."""
    n = 200_000
    while True:
        start = time.perf_counter()
        busy_loop(n)
        took = time.perf_counter() - start
        if took > 0.1:
            return max(1, int(n * seconds / took))
        n *= 2


def busy_loop(n: int) -> int:
    """The CPU-bound pure-Python work; workload modules carry identical copies for their tasks."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


# -- memory ------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid: int) -> float:
    """Current resident set size of ``pid`` in MB, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds that ``pid`` has used (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def cluster_cpu() -> dict[int, float]:
    """CPU seconds used so far by each process below this one."""
    return {pid: cpu_seconds(pid) for pid in descendants(os.getpid())}


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc, so no psutil needed)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def tree_rss_mb() -> float:
    """RSS of this process and all its descendants (the embedded cluster or Ray's daemons), in MB."""
    me = os.getpid()
    return sum(rss_mb(p) for p in [me, *descendants(me)])


def wait_for_release(baseline_mb: float, size_mb: float, timeout: float = 15.0) -> float | None:
    """Seconds until the process tree's RSS is back within a quarter of ``size_mb`` of ``baseline_mb``.

    None if it is not within ``timeout``. (At least 64 MB of slack: tiny sizes drown in noise.)
    """
    slack = max(size_mb / 4, 64)
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if tree_rss_mb() - baseline_mb < slack:
            return time.perf_counter() - start
        time.sleep(0.1)
    return None


# -- inputs that both workload modules build the same way ----------------------------------------


def make_dataframe(size_mb: int, columns: int) -> Any:
    """A pandas DataFrame of ``columns`` float64 columns and ``size_mb`` MB of values in all."""
    import numpy as np  # here, not at the top: see the module docstring
    import pandas as pd

    rows = size_mb * MB // (8 * columns)
    values = np.random.default_rng(0).random((rows, columns))
    return pd.DataFrame(values, columns=[f"c{i}" for i in range(columns)])


def quicksort_input(s: dict[str, Any]) -> tuple[Any, int]:
    """The ``quicksort`` float64 values to sort, and the size at or below which a part is sorted in place.

    Each split halves a part (the pivot is a sample's median), so with parts of at most
    1/``quicksort_split`` of the whole (12: 4M, 2M, 1M, 500k, then 250k sorted) the tree is 4 deep.
    """
    import numpy as np

    data = np.random.default_rng(0).random(s["quicksort"])
    return data, -(-len(data) // s["quicksort_split"])


# -- the runner that both workload modules use ---------------------------------------------------


class Skip(Exception):
    """Raised by a workload that cannot run here; its message says why."""

PutGet = Callable[[int], "tuple[float, float, float]"]  # size in MB -> (put s, get s, tree RSS MB)


def put_get_big(s: dict[str, Any], put_get: PutGet, size: int = 0) -> dict[str, Any]:
    """The median put and get times of a ``size`` MB object (default ``big_mb``), as MB/s."""
    size = size or s["big_mb"]
    put_get(max(1, size // 10))  # warm-up: raycompat starts its object store at the first large put
    times = [put_get(size) for _ in range(s["reps"])]
    put = sorted(t[0] for t in times)[len(times) // 2]
    get = sorted(t[1] for t in times)[len(times) // 2]
    return {"value": size / (put + get), "put_s": put, "get_s": get, "mb": size}


def put_get_huge(s: dict[str, Any], put_get: PutGet) -> dict[str, Any]:
    """One put and get of a ``huge_mb`` array, and whether its memory is released after."""
    size = s["huge_mb"]
    if not size:
        raise Skip("--quick skips the 1 GB put")
    baseline = tree_rss_mb()
    put, get, held = put_get(size)
    release = wait_for_release(baseline, size)
    return {
        "value": size / (put + get),
        "put_s": put,
        "get_s": get,
        "mb": size,
        "held_mb": held - baseline,  # shows the probe saw the memory before the del
        "released": release is not None,
        "release_s": release,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--cpu-iterations", type=int, default=0, help="busy-loop iterations of one CPU task")
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--backend", default="", help="ray_workloads: raycompat or ray")
    parser.add_argument("--cluster", default="same", help="dask_workloads: same or localcluster")
    return parser.parse_args(argv)


def run_all(
    args: argparse.Namespace,
    workloads: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]],
    info: dict[str, Any],
) -> None:
    """Run the chosen workloads in order and write {"info", "results"} to ``args.json``.

    A workload that raises is recorded with its error and the run goes on; ``Skip`` records a
    skip. ``init`` and ``shutdown`` (first and last in ``workloads``) always run, because the
    others need the session; they are recorded only when chosen.
    """
    sizes = dict(SIZES[args.size])
    sizes["num_cpus"] = args.num_cpus
    sizes["cpu_iterations"] = args.cpu_iterations or busy_iterations(sizes["cpu_seconds"])
    only = [w for w in args.only.split(",") if w]
    results: dict[str, dict[str, Any]] = {}
    for name, fn in workloads:
        always = name in ("init", "shutdown")  # the session every other workload runs in
        if only and name not in only and not always:
            continue
        started, cpu_before, others_before = time.perf_counter(), time.process_time(), cluster_cpu()
        try:
            out = fn(sizes)
        except Skip as exc:
            out = {"skipped": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a broken workload must not hide the others
            traceback.print_exc()
            out = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            if always:
                _write(args.json, info, {**results, name: out})
                raise
        out["wall_s"] = round(time.perf_counter() - started, 3)
        # CPU seconds, less sensitive than wall time to other load on a shared machine: the
        # driver's (with the scheduler, when it runs in the driver) and its descendants'.
        out["driver_cpu_s"] = round(time.process_time() - cpu_before, 3)
        others = cluster_cpu()
        out["cluster_cpu_s"] = round(sum(c - others_before.get(p, 0.0) for p, c in others.items()), 3)
        print(f"  {info.get('backend')}: {name}: {out}", file=sys.stderr, flush=True)
        if not only or name in only:
            results[name] = out
            _write(args.json, info, results)  # partial results survive a crash later on
    _write(args.json, info, results)


def _write(path: str, info: dict[str, Any], results: dict[str, Any]) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump({"info": info, "results": results}, f, indent=1)
    os.replace(path + ".tmp", path)
