"""put / get / wait / cancel."""

from __future__ import annotations

import collections
import threading

import distributed
import numpy as np
import pytest
from conftest import describe


@pytest.fixture
def blocked(ray):
    """A task that signals ``started`` (if given), then waits for ``release``."""

    @ray.remote(max_retries=0)
    def blocked(release, started=None, value="released"):
        if started:
            distributed.Event(started).set()
        distributed.Event(release).wait(60)
        return value

    return blocked


# -- put -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [1, "text", None, [1, 2, 3], {"a": [1, {"b": 2}]}, (1, 2), np.arange(10)],
    ids=["int", "str", "none", "list", "dict", "tuple", "small-array"],
)
def test_put_then_get_returns_an_equal_value(ray, value):
    ref = ray.put(value)

    assert isinstance(ref, ray.ObjectRef)
    got = ray.get(ref)
    assert type(got) is type(value)
    assert np.array_equal(got, value) if isinstance(value, np.ndarray) else got == value


def test_put_of_a_large_value_round_trips_through_the_cluster(ray, echo):
    big = np.arange(1_000_000)  # 8 MB: stored on a worker, not inline

    ref = ray.put(big)

    assert np.array_equal(ray.get(ref), big)
    assert np.array_equal(ray.get(echo.remote(ref)), big)


def test_put_and_get_of_a_100_mb_array(ray, echo):
    big = np.arange(100 * 1024 * 1024 // 8, dtype=np.int64)  # above Dask's frame split size

    ref = ray.put(big)

    assert np.array_equal(ray.get(ref), big)
    assert np.array_equal(ray.get(echo.remote(ref)), big)


def test_put_stores_a_list_as_one_object(ray, echo):
    ref = ray.put([1, 2, 3])

    assert ray.get(echo.remote(ref)) == [1, 2, 3]


def test_put_value_is_passed_to_many_tasks(ray, echo):
    ref = ray.put({"k": "v"})

    assert ray.get([echo.remote(ref) for _ in range(4)]) == [{"k": "v"}] * 4


def test_put_of_an_object_ref_raises_type_error(ray):
    ref = ray.put(1)

    with pytest.raises(TypeError, match=r"^Calling 'put' on an ray\.ObjectRef is not allowed\."):
        ray.put(ref)
    assert ray.get(ray.get(ray.put([ref]))[0]) == 1  # wrapped in a list it is fine


def test_put_of_an_unpicklable_value_raises_type_error_naming_it(ray, echo):
    with pytest.raises(TypeError, match=r"Could not serialize .*lock.*cannot pickle '_thread\.lock' object"):
        ray.put(threading.Lock())

    assert ray.get(echo.remote(1)) == 1


# -- get -----------------------------------------------------------------------------------------


def test_get_of_a_list_keeps_the_order(ray, echo):
    refs = [echo.remote(i) for i in range(6)]

    assert ray.get(refs) == list(range(6))


def test_get_of_an_empty_list_and_of_repeated_refs(ray, echo):
    ref = echo.remote(1)

    assert ray.get([]) == []
    assert ray.get([ref, ref]) == [1, 1]


def test_get_times_out_with_get_timeout_error(ray, blocked, make_event):
    release = make_event()
    ref = blocked.remote(release.name)

    with pytest.raises(ray.exceptions.GetTimeoutError, match=r"^Get timed out: some object\(s\) not ready\.") as info:
        ray.get(ref, timeout=0.01)
    assert isinstance(info.value, TimeoutError)
    with pytest.raises(TimeoutError):
        ray.get([ray.put(1), ref], timeout=0)

    release.set()
    assert ray.get(ref, timeout=60) == "released"


def test_get_of_a_value_that_is_not_a_ref_raises_value_error(ray):
    with pytest.raises(
        ValueError,
        match=r"^Invalid type of object refs, <class 'int'>, is given\. 'object_refs' must either "
        r"be an ObjectRef or a list of ObjectRefs\.",
    ):
        ray.get(42)


def test_get_of_a_tuple_raises_value_error_as_ray_does(ray, echo):
    with pytest.raises(ValueError, match=r"^Invalid type of object refs, <class 'tuple'>, is given\."):
        ray.get((echo.remote(1),))


def test_get_of_a_list_holding_a_non_ref_raises_type_error(ray, echo):
    with pytest.raises(
        TypeError, match=r"^Attempting to call `get` on the value 42, which is not an ray\.ObjectRef\."
    ):
        ray.get([echo.remote(1), 42])

    assert ray.get(echo.remote(2)) == 2


def test_get_with_negative_timeout_waits_as_ray_does(ray, echo):
    assert ray.get(echo.remote(3), timeout=-1) == 3


# -- wait ----------------------------------------------------------------------------------------


def test_wait_returns_ready_and_not_ready_in_input_order(ray, echo, blocked, make_event):
    release = make_event()
    running = blocked.remote(release.name)
    done = [echo.remote(i) for i in range(3)]
    ray.get(done)
    refs = [done[2], running, done[0], done[1]]

    ready, not_ready = ray.wait(refs, num_returns=3, timeout=30)

    assert ready == [done[2], done[0], done[1]]
    assert not_ready == [running]
    release.set()


def test_wait_returns_at_most_num_returns_ready_refs(ray, echo):
    refs = [echo.remote(i) for i in range(4)]
    ray.get(refs)

    ready, not_ready = ray.wait(refs, num_returns=2)

    assert ready == refs[:2] and not_ready == refs[2:]


def test_wait_with_timeout_returns_what_is_ready(ray, echo, blocked, make_event):
    release = make_event()
    done, running = echo.remote(1), blocked.remote(release.name)
    ray.get(done)

    assert ray.wait([done, running], num_returns=2, timeout=0) == ([done], [running])
    assert ray.wait([running], timeout=0) == ([], [running])
    release.set()
    assert ray.wait([running], timeout=60) == ([running], [])


def test_wait_defaults_to_all_when_waiting_for_the_first(ray, blocked, make_event):
    first, second = make_event(), make_event()
    slow, fast = blocked.remote(first.name), blocked.remote(second.name)

    second.set()
    ready, not_ready = ray.wait([slow, fast])

    assert ready == [fast] and not_ready == [slow]
    first.set()


@pytest.mark.parametrize("kept", [None, 2], ids=["default", "few-finished-ids-kept"])
def test_wait_sleeps_through_other_tasks_and_wakes_for_its_own(ray, echo, blocked, make_event, monkeypatch, kept):
    if kept is not None:  # more tasks finish than wait() keeps track of: it looks at its refs again
        from raycompat._dask.completions import completions

        monkeypatch.setattr(completions, "_recent", collections.deque(maxlen=kept))
    release = make_event()
    running = blocked.remote(release.name)
    outcome = []
    waiter = threading.Thread(target=lambda: outcome.append(ray.wait([running], timeout=60)))
    waiter.start()

    assert ray.get([echo.remote(i) for i in range(20)]) == list(range(20))  # they finish meanwhile
    assert waiter.is_alive() and outcome == []
    release.set()
    waiter.join(60)

    assert outcome == [([running], [])]


def test_wait_of_empty_list_returns_two_empty_lists(ray):
    assert ray.wait([]) == ([], [])
    assert ray.wait([], num_returns=0) == ([], [])


def test_wait_with_duplicate_refs_raises_value_error(ray, echo):
    ref = echo.remote(1)

    with pytest.raises(ValueError, match=r"^Wait requires a list of unique ray_waitables\."):
        ray.wait([ref, ref])


@pytest.mark.parametrize(
    ("num_returns", "message"),
    [
        (2, r"^num_returns cannot be greater than the number of ray_waitables provided to ray\.wait\."),
        (0, r"^Invalid number of objects to return 0\."),
        (-1, r"^Invalid number of objects to return -1\."),
    ],
)
def test_wait_with_num_returns_out_of_range_raises_value_error(ray, echo, num_returns, message):
    with pytest.raises(ValueError, match=message):
        ray.wait([echo.remote(1)], num_returns=num_returns)


def test_wait_with_negative_timeout_raises_value_error(ray, echo):
    with pytest.raises(ValueError, match=r"^The 'timeout' argument must be nonnegative\. Received -1"):
        ray.wait([echo.remote(1)], timeout=-1)


@pytest.mark.parametrize(
    ("make_arg", "message"),
    [
        (lambda ref: ref, r"^wait\(\) expected a list of ray\.ObjectRef.*, got a single ray\.ObjectRef"),
        (lambda ref: (ref,), r"^wait\(\) expected a list of ray\.ObjectRef.*, got <class 'tuple'>"),
        (lambda ref: [ref, 42], r"^wait\(\) expected a list of ray\.ObjectRef.*, got list containing <class 'int'>"),
    ],
    ids=["single-ref", "tuple", "list-with-int"],
)
def test_wait_of_something_other_than_a_list_of_refs_raises_type_error(ray, echo, make_arg, message):
    ref = echo.remote(1)

    with pytest.raises(TypeError, match=message):
        ray.wait(make_arg(ref))
    assert ray.wait([ref], timeout=60) == ([ref], [])


# -- serialization of arguments and results --------------------------------------------------------


def test_unpicklable_argument_raises_type_error_at_remote_naming_it(ray, echo):
    with pytest.raises(TypeError, match=r"Could not serialize .*lock.*echo"):
        echo.remote(threading.Lock())

    assert ray.get(echo.remote(1)) == 1


def test_unpicklable_return_value_raises_task_error_of_type_error(ray):
    @ray.remote
    def make_lock():
        return threading.Lock()

    with pytest.raises(ray.exceptions.RayTaskError, match=r"cannot pickle '_thread\.lock' object") as info:
        ray.get(make_lock.remote())
    assert isinstance(info.value, TypeError)


# -- cancel --------------------------------------------------------------------------------------


def test_cancel_of_a_queued_task_means_it_never_runs(ray, blocked, make_event, tmp_path):
    marker = tmp_path / "ran"
    release = make_event()
    starts = [make_event(), make_event()]
    busy = [blocked.remote(release.name, s.name) for s in starts]  # take both CPU slots
    for started in starts:
        assert started.wait(60)

    @ray.remote
    def touch(path):
        open(path, "w").close()
        return "ran"

    queued = touch.remote(str(marker))
    assert ray.cancel(queued) is None

    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(queued, timeout=30)
    release.set()
    assert ray.get(busy, timeout=60) == ["released", "released"]
    assert ray.get(touch.remote(str(tmp_path / "other")), timeout=60) == "ran"
    assert not marker.exists()


def test_cancel_interrupts_a_running_busy_loop(ray, make_event, echo):
    started = make_event()

    @ray.remote(max_retries=0)
    def spin(name):
        distributed.Event(name).set()
        while True:
            pass

    ref = spin.remote(started.name)
    assert started.wait(60)

    ray.cancel(ref)

    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(ref, timeout=60)
    assert ray.get(both_slots_free(ray, make_event), timeout=60) == ["met", "met"]


def both_slots_free(ray, make_event):
    """Two tasks that finish only if they run at once: proof that no CPU slot is still busy."""
    first, second = make_event(), make_event()

    @ray.remote
    def meet(mine, other):
        distributed.Event(mine).set()
        return "met" if distributed.Event(other).wait(50) else "alone"

    return [meet.remote(first.name, second.name), meet.remote(second.name, first.name)]


def test_cancel_with_force_kills_the_worker_and_the_cluster_keeps_working(run_python):
    # In its own cluster: killing a worker of the shared one would slow the tests after it.
    proc = run_python(
        """
        import os
        import distributed
        import ray

        ctx = ray.init(num_cpus=2, include_dashboard=False)
        client = distributed.Client(ctx.address_info["address"], set_as_default=False)
        started = distributed.Event("started", client=client)

        @ray.remote(max_retries=0)
        def hang():
            distributed.Event("started").set()
            distributed.Event("never").wait(120)
            return os.getpid()

        @ray.remote
        def pid():
            return os.getpid()

        ref = hang.remote()
        assert started.wait(60)
        ray.cancel(ref, force=True)
        try:
            ray.get(ref, timeout=60)
        except ray.exceptions.TaskCancelledError:
            print("cancelled")
        assert len(ray.get([pid.remote() for _ in range(4)], timeout=60)) == 4
        print("still working")
        client.close()
        ray.shutdown()
        """
    )

    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.splitlines() == ["cancelled", "still working"]


def test_cancel_of_a_finished_task_or_put_does_nothing(ray, echo):
    done, stored = echo.remote(5), ray.put(6)
    ray.get(done)

    ray.cancel(done)
    ray.cancel(stored)

    assert ray.get([done, stored]) == [5, 6]


def test_cancel_of_something_other_than_a_ref_raises_type_error(ray):
    with pytest.raises(
        TypeError,
        match=r"^ray\.cancel\(\) only supported for object refs\. For actors, try ray\.kill\(\)\. "
        r"Got: <class 'int'>\.",
    ):
        ray.cancel(42)
