"""ray.util.multiprocessing.Pool: the standard library's Pool API, run as remote tasks."""

from __future__ import annotations

import multiprocessing
import os
import sys

import cloudpickle
import pytest

from raycompat.util.multiprocessing import Pool, TimeoutError

# The functions below travel to the workers by value: they cannot import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def square(x):
    return x * x


def add(a, b):
    return a + b


def fail_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x


def wait_for(name):
    import distributed

    distributed.Event(name).wait(60)
    return name


def remember(value):
    os.environ["RAYCOMPAT_TEST_POOL_INIT"] = value  # per process, as an initializer's effect is


def read_state(_):
    return os.environ.get("RAYCOMPAT_TEST_POOL_INIT"), os.getpid()


@pytest.fixture(scope="module")
def pool(ray_session):
    with Pool(processes=2) as made:
        yield made


def test_map_starmap_and_apply(ray, pool):
    assert pool.map(square, range(10)) == [x * x for x in range(10)]
    assert pool.map(square, range(7), chunksize=3) == [x * x for x in range(7)]
    assert pool.map(square, []) == []
    assert pool.starmap(add, [(1, 2), (3, 4)]) == [3, 7]
    assert pool.apply(add, (1, 2)) == 3
    assert pool.apply(add, (1,), {"b": 5}) == 6
    assert pool.apply(add, (1,), kwargs={"b": 6}) == 7


def test_imap_keeps_order_and_imap_unordered_gives_everything(ray, pool):
    assert list(pool.imap(square, range(6))) == [0, 1, 4, 9, 16, 25]
    assert list(pool.imap(square, iter(range(5)), chunksize=2)) == [0, 1, 4, 9, 16]
    assert sorted(pool.imap_unordered(square, range(6))) == [0, 1, 4, 9, 16, 25]


def test_a_failing_item_raises_its_own_error(ray, pool):
    with pytest.raises(ValueError, match="three") as info:
        pool.map(fail_on_three, range(5))
    assert type(info.value) is ValueError

    results = pool.imap(fail_on_three, range(5))
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="three"):
        next(results)
    assert next(results) == 4


def test_async_results_wait_time_out_and_call_back(ray, pool, make_event):
    event = make_event()
    got, errors = [], []
    pending = pool.apply_async(wait_for, (event.name,), callback=got.append)

    assert not pending.ready()
    with pytest.raises(ValueError, match="not ready"):
        pending.successful()
    with pytest.raises(TimeoutError):
        pending.get(timeout=0)
    assert TimeoutError is multiprocessing.TimeoutError
    pending.wait(0)
    event.set()
    assert pending.get(timeout=60) == event.name
    assert pending.ready() and pending.successful()
    assert got == [event.name]

    failed = pool.map_async(fail_on_three, range(5), error_callback=errors.append)
    failed.wait(60)
    assert not failed.successful()
    assert isinstance(errors[0], ValueError)

    mapped = pool.map_async(square, [1, 2], callback=got.append)
    assert mapped.get(60) == [1, 4]
    assert got[-1] == [1, 4]


def test_processes_bounds_the_chunks_running_at_once(ray, make_event):
    event = make_event()
    with Pool(processes=1) as one:
        first = one.apply_async(wait_for, (event.name,))
        second = one.apply_async(square, (3,))
        with pytest.raises(TimeoutError):
            second.get(timeout=0.2)  # queued behind the first: only one runs at a time
        event.set()
        assert first.get(60) == event.name
        assert second.get(60) == 9


def test_initializer_runs_before_the_first_call(ray):
    token = os.urandom(4).hex()
    with Pool(processes=2, initializer=remember, initargs=(token,)) as p:
        assert {state for state, _ in p.map(read_state, range(4), chunksize=1)} == {token}


def test_close_join_and_terminate(ray):
    p = Pool(processes=2)
    result = p.map_async(square, range(4))
    with pytest.raises(ValueError, match="Pool is still running"):
        p.join()
    p.close()
    with pytest.raises(ValueError, match="Pool not running"):
        p.map(square, [1])
    p.join()
    assert result.get(0) == [0, 1, 4, 9]
    p.terminate()
    with pytest.raises(ValueError, match="Pool not running"):
        p.__enter__()


def test_processes_is_checked_against_the_cluster(ray):
    with pytest.raises(ValueError, match="Processes in the pool must be >0."):
        Pool(processes=0)
    with pytest.raises(ValueError, match="but there are only"):
        Pool(processes=10_000)
