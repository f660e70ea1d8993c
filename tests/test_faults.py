"""Faults with real processes killed: retries, isolation, lost data, force-cancel, clean exit.

Tests that kill workers of the shared cluster wait for its supervisor to bring it back to two
workers before they end; tests about exiting run a driver in a child interpreter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import psutil
import pytest
from distributed import Event

import raycompat
from raycompat import exceptions

from conftest import describe, python_env


def _backend():
    return raycompat._session.current()


def _wait_for_two_workers():
    """The supervisor restarts killed workers: wait until the shared cluster is whole again."""
    _backend().cluster.wait_until_whole(timeout=60)


@pytest.fixture
def heal(ray):
    yield
    _wait_for_two_workers()


@raycompat.remote
def crash_first_times(directory, crashes):
    """Crash this worker process ``crashes`` times (counted in files), then succeed."""
    seen = len(os.listdir(directory))
    if seen < crashes:
        open(os.path.join(directory, str(seen)), "w").close()
        os._exit(1)
    return seen + 1


def test_task_is_retried_after_its_worker_dies(ray, heal, tmp_path):
    attempts = ray.get(crash_first_times.options(max_retries=2).remote(str(tmp_path), 2), timeout=90)
    assert attempts == 3


def test_retries_run_out_with_worker_crashed_error(ray, heal, tmp_path):
    ref = crash_first_times.options(max_retries=0).remote(str(tmp_path), 5)
    with pytest.raises(exceptions.WorkerCrashedError, match="max_retries=0"):
        ray.get(ref, timeout=90)
    assert len(os.listdir(tmp_path)) == 1  # failed at once: no second attempt
    again = tmp_path / "again"
    again.mkdir()
    ref = crash_first_times.options(max_retries=1).remote(str(again), 10**6)
    with pytest.raises(exceptions.WorkerCrashedError, match="died 2 time"):
        ray.get(ref, timeout=90)


def test_retry_exceptions_retries_application_errors(ray, tmp_path):
    @ray.remote(max_retries=3, retry_exceptions=[ValueError])
    def fail_twice(directory):
        seen = len(os.listdir(directory))
        if seen < 2:
            open(os.path.join(directory, str(seen)), "w").close()
            raise ValueError("not yet")
        return seen

    assert ray.get(fail_twice.remote(str(tmp_path))) == 2

    @ray.remote(max_retries=3, retry_exceptions=[KeyError])
    def wrong_type():
        raise ValueError("not retried")

    with pytest.raises(ValueError, match="not retried"):
        ray.get(wrong_type.remote())

    @ray.remote(max_retries=3)  # retry_exceptions defaults to False, as in Ray
    def counted(directory):
        open(os.path.join(directory, f"x{len(os.listdir(directory))}"), "w").close()
        raise ValueError("once")

    target = tmp_path / "once"
    target.mkdir()
    with pytest.raises(ValueError, match="once"):
        ray.get(counted.remote(str(target)))
    assert len(os.listdir(target)) == 1


def test_crashing_neighbours_do_not_fail_innocent_tasks(ray, heal):
    @ray.remote(max_retries=0)
    def work(i):
        if i in (57, 141):
            os._exit(1)
        return i * i

    refs = [work.remote(i) for i in range(200)]
    good, crashed = [], []
    for i, ref in enumerate(refs):
        try:
            good.append(ray.get(ref, timeout=120) == i * i)
        except exceptions.WorkerCrashedError:
            crashed.append(i)
    assert crashed == [57, 141]
    assert len(good) == 198 and all(good)


def test_put_objects_and_results_survive_worker_death(ray, heal, dask_client):
    big = ray.put(np.arange(2_000_000))  # in the object store, and a copy on a worker
    small = ray.put({"a": 1})

    @ray.remote
    def total(x):
        return int(np.sum(x))

    result = total.remote(big)
    assert ray.get(result) == 1999999000000
    dask_client.amm.run_once()  # what Dask's memory manager would do every 2 s: keep the store's copy
    for pid in _backend().cluster.worker_pids():
        os.kill(pid, signal.SIGKILL)
    assert ray.get(small) == {"a": 1}
    assert ray.get(big)[-1] == 1_999_999
    assert ray.get(total.remote(big), timeout=90) == 1999999000000
    assert ray.get(result, timeout=90) == 1999999000000  # recomputed from its task if it was lost


def test_force_cancel_kills_only_that_task_and_its_slot_comes_back(ray, heal, make_event, tmp_path):
    @ray.remote
    def spin():
        while True:
            pass

    @ray.remote
    def wait_then_pid(name):
        Event(name).wait(60)
        return os.getpid()

    release = make_event()
    bystander = wait_then_pid.remote(release.name)
    spinning = spin.remote()
    ready, _ = ray.wait([spinning], timeout=1)
    assert ready == []
    ray.cancel(spinning, force=True)
    with pytest.raises(exceptions.TaskCancelledError):
        ray.get(spinning, timeout=60)
    release.set()
    assert psutil.pid_exists(ray.get(bystander, timeout=60))  # the other task was untouched
    _wait_for_two_workers()
    assert ray.get([crash_first_times.remote(str(tmp_path), 0) for _ in range(4)], timeout=60) == [1] * 4


DRIVER = """
import json, os, sys
import psutil
import ray

ray.init(num_cpus=2)

@ray.remote
class Holder:
    def pid(self):
        return os.getpid()

@ray.remote
def pid():
    return os.getpid()

holder = Holder.remote()
ray.get([pid.remote() for _ in range(4)] + [holder.pid.remote()])
children = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps(children), flush=True)
mode = sys.argv[1]
if mode == "raise":
    raise RuntimeError("the driver failed")
if mode == "kill":
    sys.stdin.read()  # wait to be killed
if mode == "shutdown":
    ray.shutdown()
    print(json.dumps([p.pid for p in psutil.Process().children(recursive=True)]), flush=True)
"""


@pytest.mark.parametrize("mode", ["exit", "raise", "kill", "shutdown"])
def test_driver_leaves_no_process_behind(mode, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "raycompat", str(script), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(state_dir=tmp_path / "state"),
    )
    children = json.loads(proc.stdout.readline())
    assert len(children) >= 3  # two workers and the actor's host (and a spare host, maybe)
    if mode == "kill":
        proc.kill()
    if mode == "shutdown":
        assert json.loads(proc.stdout.readline()) == []  # shutdown() stopped them all
    proc.communicate(timeout=60)
    alive = [p for p in (psutil.Process(c) for c in children if psutil.pid_exists(c))]
    gone, alive = psutil.wait_procs(alive, timeout=10)
    assert alive == [], f"left behind after {mode}: {alive}"


def test_every_listening_socket_of_the_embedded_cluster_is_on_localhost(ray):
    pids = {os.getpid(), *_backend().cluster.all_pids()}  # the scheduler lives in the driver
    listening = [
        c for c in psutil.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]
    assert listening, "the cluster listens somewhere"
    assert {c.laddr.ip for c in listening} <= {"127.0.0.1"}, listening


def test_a_lost_scheduler_raises_connection_error(run_python):
    script = """
        import subprocess, sys, socket
        import ray

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
            "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
            f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard"], stderr=subprocess.DEVNULL)
        try:
            ray.init(address=f"tcp://127.0.0.1:{port}")

            @ray.remote
            def f(x):
                return x

            assert ray.get(f.remote(1), timeout=60) == 1
            scheduler.kill()
            scheduler.wait()
            try:
                ray.get(f.remote(2), timeout=60)
            except ConnectionError as exc:
                print("ConnectionError:", exc)
        finally:
            worker.kill()
            scheduler.kill()
    """
    proc = run_python(script, timeout=120)
    assert "ConnectionError: Lost the connection to the Dask scheduler" in proc.stdout, describe(proc)
