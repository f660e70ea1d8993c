"""Progress: raycompat.progress(refs) and ray.experimental.tqdm_ray in tasks and the driver."""

from __future__ import annotations

import io

import pytest
from conftest import describe


def test_progress_returns_once_every_ref_is_done(ray, make_event):
    @ray.remote
    def wait_for(name, x):
        import distributed

        distributed.Event(name).wait(60)
        return x

    event = make_event()
    refs = [wait_for.remote(event.name, i) for i in range(3)]
    event.set()
    out = io.StringIO()

    assert ray.progress(refs, desc="squares", file=out) is None
    assert all(ray.wait(refs, num_returns=3, timeout=0)[0])
    assert "squares" in out.getvalue()
    assert "3/3" in out.getvalue().splitlines()[-1]


def test_progress_does_not_raise_task_errors(ray):
    @ray.remote
    def boom():
        raise ValueError("later")

    ref = boom.remote()
    ray.progress([ref], file=io.StringIO())
    with pytest.raises(ValueError, match="later"):
        ray.get(ref)


def test_tqdm_ray_in_the_driver_counts_an_iterable(ray, capsys):
    from raycompat.experimental.tqdm_ray import tqdm

    bar = tqdm(range(4), desc="local")
    assert list(bar) == [0, 1, 2, 3]
    assert bar.n == 4 and bar.total == 4


def test_tqdm_ray_in_a_task_shows_progress_on_the_driver(run_python):
    proc = run_python(
        """
        # a task reports its progress with tqdm_ray
        import ray
        from ray.experimental.tqdm_ray import tqdm

        ray.init(num_cpus=1, include_dashboard=False)

        @ray.remote
        def work(n):
            total = 0
            for i in tqdm(range(n), desc="crunching", flush_interval_s=0):
                total += i
            return total

        assert ray.get(work.remote(3)) == 3
        ray.shutdown()
        """
    )

    assert proc.returncode == 0, describe(proc)
    lines = [line for line in proc.stdout.splitlines() if "crunching" in line]
    assert lines and lines[0].startswith("(work pid="), describe(proc)
    assert "3/3" in lines[-1], describe(proc)
