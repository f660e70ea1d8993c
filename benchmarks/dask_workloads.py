"""The same workloads as ray_workloads.py, written as idiomatic raw dask.distributed.

``client.submit(..., pure=False)`` and ``gather`` for tasks, ``scatter(hash=False)`` for put,
``as_completed`` for the wait drain, Dask actors (``submit(Class, actor=True)``) for actors;
``wait(futures, timeout=...)`` before ``gather`` stands for ``ray.get(refs, timeout=...)``, and
tasks that submit tasks use ``worker_client()`` (which secedes, as a Ray task blocked in get
gives back its CPU). Arrays passed to ``.remote()`` by value are passed to ``submit`` by value.

Cluster shape (``--cluster``):

- ``same`` (default): the shape of raycompat's embedded cluster, so that the ratio measures the
  layer and not the cluster: the scheduler in this process (``LocalCluster(n_workers=0)``) plus
  ``--num-cpus`` plain ``dask worker --no-nanny --nthreads 1 --memory-limit 0`` processes.
- ``localcluster``: ``LocalCluster(n_workers=N, threads_per_worker=1, processes=True)``, i.e.
  Dask's defaults, nannies included.

Run it by hand to debug one workload:

    python benchmarks/dask_workloads.py --size tiny --only task_roundtrip --json /tmp/d.json
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import dask
import distributed
import numpy as np
from distributed import Client, LocalCluster, as_completed, worker_client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import MB, Skip, best_of, timed  # noqa: E402

# -- what runs in tasks --------------------------------------------------------------------------


def noop() -> None:
    return None


def add_one(x: int) -> int:
    return x + 1


def nbytes(array: Any) -> int:
    return int(array.nbytes)


def cpu_task(n: int) -> int:
    total = 0  # the same loop as _common.busy_loop, which the workers cannot import
    for i in range(n):
        total += i * i % 7
    return total


def quicksort(array: Any, threshold: int) -> tuple[Any, int]:
    """Sort ``array`` with a task per half above ``threshold`` (ray_workloads.quicksort, in Dask)."""
    if len(array) <= threshold:
        return np.sort(array), 0
    pivot = np.median(array[:: max(1, len(array) // 1001)])
    low, high = array[array < pivot], array[array > pivot]
    with worker_client() as c:  # secedes from the worker's thread while the halves run, like Ray's get
        (low, d_low), (high, d_high) = c.gather([c.submit(quicksort, low, threshold, pure=False),
                                                 c.submit(quicksort, high, threshold, pure=False)])
    return np.concatenate([low, array[array == pivot], high]), 1 + max(d_low, d_high)


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def incr(self) -> int:
        self.n += 1
        return self.n


# -- the cluster ---------------------------------------------------------------------------------


class SameShapeCluster:
    """A scheduler in this process plus N ``dask worker --no-nanny --nthreads 1`` processes."""

    def __init__(self, n_workers: int) -> None:
        self.scheduler = LocalCluster(n_workers=0, processes=True, dashboard_address="127.0.0.1:0", host="127.0.0.1")
        env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "error"}
        cmd = [sys.executable, "-m", "distributed.cli.dask_worker", self.scheduler.scheduler_address,
               "--no-nanny", "--nthreads", "1", "--memory-limit", "0", "--no-dashboard", "--host", "127.0.0.1"]
        self.procs = [
            subprocess.Popen([*cmd, "--name", f"worker-{i}"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(n_workers)
        ]

    def close(self) -> None:
        self.scheduler.close()  # the scheduler tells the workers to exit
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


_state: dict[str, Any] = {}


def client() -> Client:
    return _state["client"]


# -- workloads -----------------------------------------------------------------------------------


def w_init(s: dict[str, Any]) -> dict[str, Any]:
    n = s["num_cpus"]
    start = time.perf_counter()
    if _state["cluster_kind"] == "same":
        cluster: Any = SameShapeCluster(n)
        address = cluster.scheduler.scheduler_address
    else:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0")
        address = cluster.scheduler_address
    c = Client(address)
    c.wait_for_workers(n, timeout=60)
    inited = time.perf_counter()
    assert c.submit(noop, pure=False).result() is None
    done = time.perf_counter()
    _state.update(cluster=cluster, client=c, rss_after_init_mb=_common.rss_mb(os.getpid()))
    return {"value": done - start, "init_s": inited - start}


def w_shutdown(s: dict[str, Any]) -> dict[str, Any]:
    def close() -> None:
        _state["client"].close()
        _state["cluster"].close()

    return {"value": timed(close)}


def w_task_roundtrip(s: dict[str, Any]) -> dict[str, Any]:
    n, c = s["roundtrip"], client()
    for _ in range(5):
        c.submit(noop, pure=False).result()

    def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            c.submit(noop, pure=False).result()
        return time.perf_counter() - start

    return {"value": n / best_of(s["reps"], run), "n": n}


def _many_noops(n: int, reps: int, timeout: float | None = None) -> dict[str, Any]:
    c = client()

    def run() -> float:
        return timed(lambda: _gather([c.submit(noop, pure=False) for _ in range(n)], timeout))

    return {"value": n / best_of(reps, run), "n": n}


def _gather(futures: list[Any], timeout: float | None) -> list[Any]:
    """``gather``, which has no timeout: with one, ``wait(timeout=...)`` first (ray.get(refs, timeout=...))."""
    if timeout is not None:
        distributed.wait(futures, timeout=timeout)
    return client().gather(futures)


def w_tasks_small(s: dict[str, Any]) -> dict[str, Any]:
    return _many_noops(s["tasks_small"], s["reps"])


def w_tasks_large(s: dict[str, Any]) -> dict[str, Any]:
    return _many_noops(s["tasks_large"], max(1, s["reps"] - 1))


def w_gather(s: dict[str, Any]) -> dict[str, Any]:
    return _many_noops(s["gather"], max(1, s["reps"] - 1))


def w_gather_timeout(s: dict[str, Any]) -> dict[str, Any]:
    return _many_noops(s["gather"], max(1, s["reps"] - 1), timeout=600)


def w_chain(s: dict[str, Any]) -> dict[str, Any]:
    n, c = s["chain"], client()

    def run() -> float:
        start = time.perf_counter()
        future = c.submit(add_one, 0, pure=False)
        for _ in range(n - 1):
            future = c.submit(add_one, future, pure=False)
        assert future.result() == n
        return time.perf_counter() - start

    return {"value": n / best_of(s["reps"], run), "n": n}


SMALL = {"id": 7, "name": "small object", "values": list(range(20)), "blob": b"x" * 200}


def w_small_put(s: dict[str, Any]) -> dict[str, Any]:
    n, c = s["small_put"], client()

    def run() -> float:
        return timed(lambda: [c.scatter([SMALL], hash=False)[0] for _ in range(n)])

    return {"value": n / best_of(s["reps"], run), "n": n}


def w_small_get(s: dict[str, Any]) -> dict[str, Any]:
    n, c = s["small_put"], client()
    futures = [c.scatter([SMALL], hash=False)[0] for _ in range(n)]
    assert futures[0].result() == SMALL
    return {"value": n / best_of(s["reps"], lambda: timed(lambda: [f.result() for f in futures])), "n": n}


def _finished_futures(n: int) -> tuple[list[Any], dict[str, Any]]:
    """``n`` futures of no-op tasks that have all finished (as ray_workloads._finished_refs)."""
    kept = _state.get("finished_futures", [])
    if len(kept) >= n:
        return kept[:n], {"reused": True}
    c = client()
    start = time.perf_counter()
    futures = [c.submit(noop, pure=False) for _ in range(n)]
    submitted = time.perf_counter()
    distributed.wait([futures[-1]])
    finished = time.perf_counter()
    done, _ = distributed.wait(futures)
    assert len(done) == n
    _state["finished_futures"] = futures
    return futures, {"submit_s": submitted - start, "tasks_s": finished - submitted, "wait_s": time.perf_counter() - finished}


def _get_cost(n: int, reps: int) -> dict[str, Any]:
    """Microseconds per future of gathering (with a timeout) ``n`` futures that have all finished."""
    futures, setup = _finished_futures(n)
    took = best_of(reps, lambda: timed(lambda: _gather(futures, timeout=600)))
    return {"value": took / n * 1e6, "get_s": took, "n": n, **setup}


def w_get_cost_1k(s: dict[str, Any]) -> dict[str, Any]:
    return _get_cost(s["get_cost_1k"], s["reps"])


def w_get_cost_5k(s: dict[str, Any]) -> dict[str, Any]:
    return _get_cost(s["get_cost_5k"], s["reps"])


def w_get_cost_20k(s: dict[str, Any]) -> dict[str, Any]:
    return _get_cost(s["get_cost_20k"], max(1, s["reps"] - 1))


def _put_get(size_mb: int) -> tuple[float, float, float]:
    """Seconds to put and to get an array of ``size_mb``; and the process tree's RSS before the del."""
    return _round_trip(np.ones(size_mb * MB // 8))


def _round_trip(value: Any) -> tuple[float, float, float]:
    """Seconds to scatter and to fetch ``value`` (an array or a DataFrame); and the RSS before the del."""
    start = time.perf_counter()
    future = client().scatter(value, hash=False)
    put = time.perf_counter()
    back = future.result()
    got = time.perf_counter()
    assert back.shape == value.shape
    held = _common.tree_rss_mb()
    del future, back, value
    return put - start, got - put, held


def w_put_get_big(s: dict[str, Any]) -> dict[str, Any]:
    return _common.put_get_big(s, _put_get)


def w_put_get_huge(s: dict[str, Any]) -> dict[str, Any]:
    return _common.put_get_huge(s, _put_get)


def w_put_get_dataframe(s: dict[str, Any]) -> dict[str, Any]:
    columns = s["df_columns"]

    def put_get(size_mb: int) -> tuple[float, float, float]:
        return _round_trip(_common.make_dataframe(size_mb, columns))

    out = _common.put_get_big(s, put_get, s["df_mb"])
    return {**out, "columns": columns}


def w_quicksort(s: dict[str, Any]) -> dict[str, Any]:
    c = client()
    data, threshold = _common.quicksort_input(s)
    c.submit(quicksort, data[: len(data) // 100], max(1, threshold // 100), pure=False).result()  # warm-up
    depths = []

    def run() -> float:
        start = time.perf_counter()
        result, depth = c.submit(quicksort, data, threshold, pure=False).result()
        took = time.perf_counter() - start
        assert np.array_equal(result, np.sort(data)), "quicksort returned a wrong order"
        assert 3 <= depth <= 4, f"the quicksort tree is {depth} deep, not 3 or 4"
        depths.append(depth)
        return took

    took = best_of(s["reps"], run)
    return {"value": took, "n": len(data), "threshold": threshold, "depth": max(depths)}


def w_ref_to_tasks(s: dict[str, Any]) -> dict[str, Any]:
    size, k, c = s["big_mb"], s["ref_tasks"], client()
    array = np.ones(size * MB // 8)

    def run() -> float:
        start = time.perf_counter()
        future = c.scatter(array, hash=False)
        assert c.gather([c.submit(nbytes, future, pure=False) for _ in range(k)]) == [array.nbytes] * k
        return time.perf_counter() - start

    return {"value": best_of(s["reps"], run), "mb": size, "tasks": k}


def _counter() -> Any:
    return client().submit(Counter, actor=True, pure=False).result()


def w_actor_sync(s: dict[str, Any]) -> dict[str, Any]:
    n = s["actor_sync"]
    start = time.perf_counter()
    counter = _counter()
    assert counter.incr().result() == 1
    created = time.perf_counter() - start

    def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            counter.incr().result()
        return time.perf_counter() - start

    return {"value": n / best_of(s["reps"], run), "n": n, "create_s": created}


def w_actor_pipelined(s: dict[str, Any]) -> dict[str, Any]:
    n = s["actor_pipelined"]
    counter = _counter()

    def run() -> float:
        start = time.perf_counter()
        first = counter.incr().result()
        futures = [counter.incr() for _ in range(n)]
        values = [f.result() for f in futures]
        # Dask sends each actor call on its own connection, so they may run out of order.
        assert sorted(values) == list(range(first + 1, first + n + 1))
        _state["actor_in_order"] = values == sorted(values)
        return time.perf_counter() - start

    out = {"value": n / best_of(s["reps"], run), "n": n}
    out["in_order"] = _state.get("actor_in_order")
    return out


def _drain(futures: list[Any]) -> None:
    for _ in as_completed(futures):
        pass


def w_wait_drain_ready(s: dict[str, Any]) -> dict[str, Any]:
    n, c = s["wait_refs"], client()

    def run() -> float:
        futures = [c.submit(noop, pure=False) for _ in range(n)]
        distributed.wait(futures)
        return timed(lambda: _drain(futures))

    return {"value": n / best_of(s["reps"], run), "n": n}


def w_wait_drain_live(s: dict[str, Any]) -> dict[str, Any]:
    n, c = s["wait_refs"], client()

    def run() -> float:
        start = time.perf_counter()
        _drain([c.submit(noop, pure=False) for _ in range(n)])
        return time.perf_counter() - start

    return {"value": n / best_of(s["reps"], run), "n": n}


def w_cpu_speedup(s: dict[str, Any]) -> dict[str, Any]:
    k, iterations, c = s["cpu_tasks"], s["cpu_iterations"], client()
    c.gather([c.submit(cpu_task, 1000, pure=False) for _ in range(4 * s["num_cpus"])])
    serial = timed(lambda: [_common.busy_loop(iterations) for _ in range(k)])
    parallel = timed(lambda: c.gather([c.submit(cpu_task, iterations, pure=False) for _ in range(k)]))
    return {"value": serial / parallel, "serial_s": serial, "parallel_s": parallel, "tasks": k}


def w_rss_tasks(s: dict[str, Any]) -> dict[str, Any]:
    n, c = s["rss_tasks"], client()
    start = time.perf_counter()
    c.gather([c.submit(noop, pure=False) for _ in range(n)])
    took = time.perf_counter() - start
    return {
        "value": _common.peak_rss_mb(),
        "rss_after_init_mb": _state.get("rss_after_init_mb"),
        "tasks_per_s": n / took,
        "n": n,
    }


WORKLOADS = [
    ("init", w_init),
    ("task_roundtrip", w_task_roundtrip),
    ("tasks_small", w_tasks_small),
    ("tasks_large", w_tasks_large),
    ("gather_20000", w_gather),
    ("gather_20000_timeout", w_gather_timeout),
    ("chain", w_chain),
    ("small_put", w_small_put),
    ("small_get", w_small_get),
    ("get_cost_per_ref_20k", w_get_cost_20k),  # largest first: the others reuse its finished futures
    ("get_cost_per_ref_5k", w_get_cost_5k),
    ("get_cost_per_ref_1k", w_get_cost_1k),
    ("put_get_big", w_put_get_big),
    ("put_get_dataframe_100mb", w_put_get_dataframe),
    ("ref_to_tasks", w_ref_to_tasks),
    ("actor_sync", w_actor_sync),
    ("actor_pipelined", w_actor_pipelined),
    ("wait_drain_ready", w_wait_drain_ready),
    ("wait_drain_live", w_wait_drain_live),
    ("cpu_speedup", w_cpu_speedup),
    ("quicksort_4m", w_quicksort),
    ("put_get_huge", w_put_get_huge),
    ("rss_tasks", w_rss_tasks),
    ("shutdown", w_shutdown),
]

CLUSTERS = {
    "same": "scheduler in the driver (LocalCluster(n_workers=0)) + {n} `dask worker --no-nanny --nthreads 1` processes",
    "localcluster": "LocalCluster(n_workers={n}, threads_per_worker=1, processes=True): nannies, spawned workers",
}


def main() -> None:
    args = _common.parse_args()
    if args.cluster not in CLUSTERS:
        raise SystemExit(f"--cluster must be one of {sorted(CLUSTERS)}, got {args.cluster!r}.")
    _state["cluster_kind"] = args.cluster
    info = {
        "backend": "dask",
        "version": distributed.__version__,
        "dask_version": dask.__version__,
        "python": sys.version.split()[0],
        "cluster": CLUSTERS[args.cluster].format(n=args.num_cpus),
    }
    _common.run_all(args, WORKLOADS, info)


if __name__ == "__main__":
    main()
