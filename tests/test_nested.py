"""Tasks inside tasks: .remote(), get, wait and put from a running task, without deadlock."""

from __future__ import annotations

import pytest


def test_task_can_submit_and_get_other_tasks(ray):
    @ray.remote
    def square(x):
        return x * x

    @ray.remote
    def sum_of_squares(n):
        return sum(ray.get([square.remote(i) for i in range(n)]))

    assert ray.get(sum_of_squares.remote(5)) == 30


def test_task_can_put_and_wait(ray):
    @ray.remote
    def echo(x):
        return x

    @ray.remote
    def outer():
        stored = ray.put([1, 2])
        refs = [echo.remote(stored), echo.remote(3)]
        ready, not_ready = ray.wait(refs, num_returns=2, timeout=60)
        return ray.get(ready), not_ready

    assert ray.get(outer.remote()) == ([[1, 2], 3], [])


def test_recursive_fib_with_num_cpus_2_finishes(ray):
    @ray.remote(num_cpus=2)
    def fib(n):
        if n < 2:
            return n
        return sum(ray.get([fib.remote(n - 1), fib.remote(n - 2)]))

    assert ray.get(fib.remote(10), timeout=100) == 55


def test_more_blocked_parents_than_cpu_slots_do_not_deadlock(ray):
    @ray.remote
    def leaf(i):
        return i

    @ray.remote
    def parent(i):
        return ray.get(leaf.remote(i)) + 1

    assert ray.get([parent.remote(i) for i in range(6)], timeout=100) == [1, 2, 3, 4, 5, 6]


def test_error_in_a_nested_task_reaches_the_driver(ray):
    @ray.remote
    def inner():
        raise ValueError("inner failed")

    @ray.remote
    def outer():
        return ray.get(inner.remote())

    with pytest.raises(ValueError, match=r"inner failed") as info:
        ray.get(outer.remote())
    assert isinstance(info.value, ray.exceptions.RayTaskError)


def test_import_ray_inside_a_task_gives_raycompat(ray):
    @ray.remote
    def inside():
        import ray as inner_ray
        import ray.exceptions

        import raycompat

        return inner_ray is raycompat, ray.exceptions is raycompat.exceptions

    assert ray.get(inside.remote()) == (True, True)


def test_is_initialized_is_true_inside_a_task(ray):
    @ray.remote
    def check():
        return ray.is_initialized()

    assert ray.get(check.remote()) is True
