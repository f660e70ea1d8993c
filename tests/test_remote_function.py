"""Remote functions: @ray.remote, .remote(), .options(), num_returns and argument checks."""

from __future__ import annotations

import os
import uuid

import distributed
import pytest


@pytest.fixture
def square(ray):
    @ray.remote
    def square(x):
        return x * x

    return square


def test_remote_returns_an_object_ref_before_the_task_finishes(ray, make_event):
    release = make_event()

    @ray.remote
    def blocked(name):
        distributed.Event(name).wait(60)
        return "done"

    ref = blocked.remote(release.name)

    assert isinstance(ref, ray.ObjectRef)
    assert ray.wait([ref], timeout=0) == ([], [ref])
    release.set()
    assert ray.get(ref, timeout=60) == "done"


def test_decorator_with_and_without_options_gives_a_remote_function(ray):
    @ray.remote
    def plain(x, y=10):
        """Add."""
        return x + y

    @ray.remote(num_cpus=1, max_retries=0)
    def with_options(x, *, y):
        return x - y

    assert ray.get(plain.remote(1)) == 11
    assert ray.get(plain.remote(1, y=2)) == 3
    assert ray.get(with_options.remote(5, y=2)) == 3
    assert plain.__name__ == "plain" and plain.__doc__ == "Add."


def test_calling_a_remote_function_directly_raises_type_error(square):
    with pytest.raises(
        TypeError,
        match=r"^Remote functions cannot be called directly\. Instead of running "
        r"'[\w.<>]*square\(\)', try '[\w.<>]*square\.remote\(\)'\.$",
    ):
        square(3)


def test_options_result_cannot_be_called_directly(square):
    with pytest.raises(TypeError, match=r"try '[\w.<>]*square\.remote\(\)'"):
        square.options(num_cpus=1)(3)


def test_identical_calls_run_every_time_and_are_never_memoised(ray):
    @ray.remote
    def token(x):
        return uuid.uuid4().hex

    refs = [token.remote(1) for _ in range(4)]

    assert len(set(refs)) == 4
    assert len(set(ray.get(refs))) == 4


def test_identical_calls_with_side_effects_each_take_effect(ray, tmp_path):
    log = tmp_path / "calls.log"

    @ray.remote
    def append(path):
        with open(path, "a") as f:
            f.write("x\n")

    ray.get([append.remote(str(log)), append.remote(str(log))])

    assert log.read_text() == "x\nx\n"


def test_dask_key_starts_with_the_function_name(square):
    assert square.remote(2).task_id().startswith("square-")


def test_options_name_names_the_dask_key(square, ray):
    ref = square.options(name="custom_name").remote(4)

    assert ref.task_id().startswith("custom_name-")
    assert ray.get(ref) == 16


def test_tasks_run_in_parallel_in_separate_worker_processes(ray, make_event):
    first, second = make_event(), make_event()

    @ray.remote
    def meet(mine, other):
        # Each task signals, then waits for the other: both finish only if they run at once.
        distributed.Event(mine).set()
        assert distributed.Event(other).wait(60), "the other task never started"
        return os.getpid()

    pids = ray.get([meet.remote(first.name, second.name), meet.remote(second.name, first.name)], timeout=90)

    assert pids[0] != pids[1]
    assert os.getpid() not in pids


def test_num_returns_gives_one_ref_per_returned_value(ray):
    @ray.remote(num_returns=2)
    def pair(x):
        return x, x + 1

    refs = pair.remote(1)

    assert isinstance(refs, list) and len(refs) == 2
    assert ray.get(refs) == [1, 2]
    assert ray.get(refs[1]) == 2


def test_num_returns_in_options_overrides_the_decorator(ray):
    @ray.remote(num_returns=2)
    def many(n):
        return tuple(range(n))

    refs = many.options(num_returns=3).remote(3)

    assert ray.get(refs) == [0, 1, 2]


def test_num_returns_zero_returns_none(ray, tmp_path):
    marker = tmp_path / "ran"

    @ray.remote(num_returns=0)
    def side_effect(path):
        open(path, "w").close()

    assert side_effect.remote(str(marker)) is None


def test_returning_the_wrong_number_of_values_raises_value_error_in_get(ray):
    @ray.remote(num_returns=2)
    def three():
        return 1, 2, 3

    refs = three.remote()

    with pytest.raises(ray.exceptions.RayTaskError, match=r"returned 3 objects, but num_returns=2") as info:
        ray.get(refs[0])
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, r"^missing a required argument: 'x'$"),
        ((1, 2), {}, r"^too many positional arguments$"),
        ((), {"y": 1}, r"^missing a required argument: 'x'$"),
        ((1,), {"x": 1}, r"^multiple values for argument 'x'$"),
    ],
)
def test_wrong_arguments_raise_type_error_at_remote(square, ray, args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        square.remote(*args, **kwargs)

    assert ray.get(square.remote(3)) == 9  # the session still works


def test_task_reads_its_arguments_keyword_and_default(ray):
    @ray.remote
    def describe(a, b=2, *args, c, **kwargs):
        return a, b, args, c, kwargs

    assert ray.get(describe.remote(1, c=3)) == (1, 2, (), 3, {})
    assert ray.get(describe.remote(1, 5, 6, 7, c=3, d=4)) == (1, 5, (6, 7), 3, {"d": 4})


def test_remote_function_can_call_a_module_level_helper_and_closure(ray):
    offset = 100

    def helper(x):
        return x + offset

    @ray.remote
    def use_helper(x):
        return helper(x)

    assert ray.get(use_helper.remote(1)) == 101


def test_decorating_something_that_is_not_callable_is_rejected(ray):
    with pytest.raises(AssertionError, match=r"must be applied either with no arguments"):
        ray.remote(1)


# -- behaviours checked against Ray 2.60 ----------------------------------------------------------


def test_a_task_that_changes_its_argument_changes_only_its_own_copy(ray):
    import numpy as np

    @ray.remote
    def make():
        return list(range(10))

    @ray.remote
    def append_and_count(values):
        values.append(1)
        return len(values)

    @ray.remote
    def try_to_write(array):
        try:
            array += 1
        except ValueError:
            return "read-only"
        return "written"

    made, put = make.remote(), ray.put(list(range(20_000)))  # a task result, and a stored put
    assert ray.get([append_and_count.remote(made) for _ in range(6)]) == [11] * 6
    assert ray.get([append_and_count.remote(put) for _ in range(3)]) == [20_001] * 3
    assert len(ray.get(made)) == 10 and len(ray.get(put)) == 20_000
    big = ray.put(np.zeros(100_000))
    assert ray.get(try_to_write.remote(big)) == "read-only"  # as Ray's arrays are
    assert ray.get(big).sum() == 0


def test_a_retry_sees_the_arguments_as_they_were_sent(ray, tmp_path):
    marker = tmp_path / "attempts"

    @ray.remote(max_retries=2, retry_exceptions=True)
    def append_then_fail_twice(values, path):
        values.append("x")
        with open(path, "a") as f:
            f.write(".")
        if len(open(path).read()) < 3:
            raise ValueError("again")
        return values

    assert ray.get(append_then_fail_twice.remote([], str(marker))) == ["x"]


@pytest.mark.parametrize("retry_exceptions", [True, [ValueError]])
def test_a_task_whose_nested_task_failed_is_retried(ray, tmp_path, retry_exceptions):
    marker = tmp_path / "parent-runs"

    @ray.remote(max_retries=0)
    def child():
        raise ValueError("child failed")

    @ray.remote(max_retries=2, retry_exceptions=retry_exceptions)
    def parent(path):
        with open(path, "a") as f:
            f.write(".")
        return ray.get(child.remote())

    with pytest.raises(ValueError, match="child failed"):
        ray.get(parent.remote(str(marker)), timeout=60)
    assert marker.read_text() == "..."  # the first run and two retries


def test_sys_exit_and_keyboard_interrupt_in_a_task_leave_the_session_working(ray, square):
    import sys

    @ray.remote(max_retries=1)
    def exits():
        sys.exit(0)

    @ray.remote(max_retries=0)
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(ray.exceptions.WorkerCrashedError, match="sys.exit"):
        ray.get(exits.remote(), timeout=60)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(interrupted.remote(), timeout=60)
    assert ray.get(square.remote(3), timeout=60) == 9


def test_num_cpus_none_means_the_default_and_memory_does_not_block_the_embedded_cluster(ray, square):
    assert ray.get(square.options(num_cpus=None).remote(2), timeout=60) == 4
    assert ray.get(square.options(memory=100 * 1024 * 1024).remote(3), timeout=60) == 9


def test_a_task_can_submit_tasks_from_threads_of_its_own(ray, square):
    from concurrent.futures import ThreadPoolExecutor

    @ray.remote
    def fan_out():
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(lambda i: ray.get(square.remote(i)), range(3)))

    assert ray.get(fan_out.remote(), timeout=60) == [0, 1, 4]
