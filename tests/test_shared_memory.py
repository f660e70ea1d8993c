"""Large put() objects in shared memory: written once, mapped read-only by the driver and by
tasks (the same bytes, no copy), gone as soon as the last ref is, and never left behind by a
shutdown, a crash or a SIGKILL of the driver."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from conftest import SUBPROCESS_TIMEOUT, describe, python_env

from raycompat._dask import shared_memory

MB = 1 << 20


@pytest.fixture
def shm_dir(tmp_path, monkeypatch):
    """A directory of our own for the driver's shared-memory files (it stands in for /dev/shm)."""
    path = tmp_path / "shm"
    path.mkdir()
    monkeypatch.setenv(shared_memory.DIRECTORY_ENV, str(path))
    return path


def eventually_empty(path, timeout=30.0):
    """Whether ``path`` holds no file once its holder has had ``timeout`` seconds to remove them."""
    deadline = time.monotonic() + timeout
    while os.listdir(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.listdir(path) == []


def test_a_large_put_is_one_shared_file_that_get_maps_read_only(ray, shm_dir):
    array = np.random.default_rng(0).random(4 * MB // 8)
    ref = ray.put(array)
    (name,) = os.listdir(shm_dir)
    assert os.path.getsize(shm_dir / name) >= array.nbytes  # the one copy, outside every process
    got = ray.get(ref)
    assert np.array_equal(got, array)
    assert not got.flags.writeable  # read-only, as in Ray
    with pytest.raises(ValueError, match="read-only"):
        got[0] = 1.0


def test_a_task_reads_the_put_object_read_only_and_sees_the_same_bytes(ray, shm_dir):
    array = np.arange(2 * MB // 8, dtype=np.float64)
    ref = ray.put(array)

    @ray.remote
    def inspect(a):
        return a.tobytes() == np.arange(2 * MB // 8, dtype=np.float64).tobytes(), a.flags.writeable

    assert ray.get(inspect.remote(ref)) == (True, False)


def test_a_large_argument_by_value_goes_through_shared_memory_and_comes_back_right(ray, shm_dir):
    array = np.random.default_rng(1).random(MB // 8)

    @ray.remote
    def total(a):
        return float(a.sum()), a.flags.writeable

    assert ray.get(total.remote(array)) == (float(array.sum()), False)


def test_a_task_puts_into_shared_memory_too_and_the_driver_reads_it(ray):
    @ray.remote
    def make():
        return ray.put(np.arange(MB // 8))

    @ray.remote
    def total(a):
        return int(a.sum()), a.flags.writeable

    inner = ray.get(make.remote())
    assert ray.get(total.remote(inner)) == (int(np.arange(MB // 8).sum()), False)
    got = ray.get(inner)
    assert np.array_equal(got, np.arange(MB // 8)) and not got.flags.writeable


def test_a_dataframe_round_trips_through_shared_memory(ray, shm_dir):
    frame = pd.DataFrame({f"c{i}": np.arange(50_000, dtype=np.float64) * i for i in range(4)})
    frame["label"] = "x"
    ref = ray.put(frame)
    assert len(os.listdir(shm_dir)) == 1
    pd.testing.assert_frame_equal(ray.get(ref), frame)


def test_the_file_goes_as_soon_as_the_last_ref_is_gone(ray, shm_dir):
    ref = ray.put(np.ones(MB))
    assert len(os.listdir(shm_dir)) == 1
    value = ray.get(ref)
    del ref
    gc.collect()
    assert eventually_empty(shm_dir)
    assert value.sum() == MB  # a mapping still open stays readable after the file is removed


def test_without_room_in_shared_memory_a_put_takes_the_ordinary_path(ray, tmp_path, monkeypatch):
    monkeypatch.setenv(shared_memory.DIRECTORY_ENV, str(tmp_path / "no-such-directory"))
    array = np.arange(MB // 8)
    ref = ray.put(array)

    @ray.remote
    def total(a):
        return int(a.sum())

    assert np.array_equal(ray.get(ref), array)
    assert ray.get(total.remote(ref)) == int(array.sum())


def test_large_arguments_by_value_never_send_a_large_graph(run_python, tmp_path):
    result = run_python(
        """
        import numpy as np
        import ray

        ray.init(num_cpus=2, include_dashboard=False)

        @ray.remote
        def halves(a, depth):
            if depth == 0:
                return float(a.sum())
            mid = len(a) // 2
            return sum(ray.get([halves.remote(a[:mid], depth - 1), halves.remote(a[mid:], depth - 1)]))

        a = np.random.default_rng(0).random(4_000_000)
        print(abs(ray.get(halves.remote(a, 2)) - float(a.sum())) < 1e-6)
        """,
        env={shared_memory.DIRECTORY_ENV: str(tmp_path)},
    )
    assert result.returncode == 0, describe(result)
    assert result.stdout == "True\n", describe(result)
    assert "large graph" not in result.stderr, describe(result)


HOLDER = """
import sys
import numpy as np
import ray

ray.init(num_cpus=1, include_dashboard=False)
refs = [ray.put(np.ones(1 << 20)) for _ in range(3)]
print("put", flush=True)
sys.stdin.readline()  # the test looks at the files, then says how to end
if sys.argv[1] == "crash":
    raise RuntimeError("the driver fails")
ray.shutdown()
"""


@pytest.mark.parametrize("ending", ["shutdown", "crash", "SIGKILL"])
def test_nothing_is_left_in_shared_memory_after_the_driver_ends(tmp_path, ending):
    shm = tmp_path / "shm"
    shm.mkdir()
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(HOLDER))
    proc = subprocess.Popen(
        [sys.executable, "-m", "raycompat", str(script), ending],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=python_env({shared_memory.DIRECTORY_ENV: str(shm)}, state_dir=tmp_path / "state"),
    )
    try:
        assert proc.stdout.readline() == "put\n"
        assert len(os.listdir(shm)) == 3
        if ending == "SIGKILL":
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate("go\n", timeout=SUBPROCESS_TIMEOUT)
    finally:
        proc.kill()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if ending == "crash":
        assert "the driver fails" in err, describe(result)
    assert eventually_empty(shm), describe(result)  # the object store removes them as it leaves
