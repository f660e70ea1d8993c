"""ray.util.ActorPool: map, submit, get_next and friends, with Ray's errors."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def actors(ray_session):
    import raycompat as ray

    @ray.remote
    class Doubler:
        def double(self, v):
            return 2 * v

        def wait_then_double(self, name, v):
            import distributed

            distributed.Event(name).wait(60)
            return 2 * v

    return [Doubler.remote(), Doubler.remote()]


def test_map_returns_results_in_input_order(ray, actors):
    pool = ray.util.ActorPool(actors)

    assert list(pool.map(lambda a, v: a.double.remote(v), [1, 2, 3, 4, 5])) == [2, 4, 6, 8, 10]


def test_map_unordered_returns_every_result(ray, actors):
    pool = ray.util.ActorPool(actors)

    assert sorted(pool.map_unordered(lambda a, v: a.double.remote(v), range(6))) == [0, 2, 4, 6, 8, 10]


def test_submit_queues_values_while_every_actor_is_busy(ray, actors):
    pool = ray.util.ActorPool(actors)
    for v in range(5):
        pool.submit(lambda a, v: a.double.remote(v), v)

    assert not pool.has_free()
    assert [pool.get_next() for _ in range(5)] == [0, 2, 4, 6, 8]
    assert not pool.has_next()
    assert pool.has_free()


def test_get_next_on_an_empty_pool_raises_stop_iteration(ray, actors):
    pool = ray.util.ActorPool(actors)

    with pytest.raises(StopIteration, match="No more results to get"):
        pool.get_next()
    with pytest.raises(StopIteration, match="No more results to get"):
        pool.get_next_unordered()


def test_get_next_times_out_with_the_builtin_timeout_error(ray, actors, make_event):
    event = make_event()
    pool = ray.util.ActorPool(actors[:1])
    pool.submit(lambda a, v: a.wait_then_double.remote(event.name, v), 3)

    with pytest.raises(TimeoutError, match="^Timed out waiting for result$") as info:
        pool.get_next(timeout=0)
    assert type(info.value) is TimeoutError
    assert pool.has_next()  # still pending: a later get_next takes it
    event.set()
    assert pool.get_next() == 6


def test_ignore_if_timedout_drops_the_result_and_frees_the_actor(ray, actors, make_event):
    event = make_event()
    pool = ray.util.ActorPool(actors[:1])
    pool.submit(lambda a, v: a.wait_then_double.remote(event.name, v), 3)

    with pytest.raises(TimeoutError, match="has been ignored"):
        pool.get_next(timeout=0, ignore_if_timedout=True)
    assert not pool.has_next()
    assert pool.has_free()
    event.set()


def test_get_next_unordered_times_out_too(ray, actors, make_event):
    event = make_event()
    pool = ray.util.ActorPool(actors[:1])
    pool.submit(lambda a, v: a.wait_then_double.remote(event.name, v), 1)

    with pytest.raises(TimeoutError, match="Timed out waiting for result"):
        pool.get_next_unordered(timeout=0)
    event.set()
    assert pool.get_next_unordered(timeout=60) == 2


def test_get_next_after_get_next_unordered_is_refused(ray, actors, make_event):
    event = make_event()
    pool = ray.util.ActorPool(actors)
    pool.submit(lambda a, v: a.wait_then_double.remote(event.name, v), 1)
    pool.submit(lambda a, v: a.double.remote(v), 2)

    assert pool.get_next_unordered() == 4  # the second value overtakes the first
    with pytest.raises(ValueError, match=r"not allowed to call get_next\(\) after get_next_unordered"):
        pool.get_next()
    event.set()
    assert pool.get_next_unordered() == 2


def test_push_and_pop_idle_move_actors_in_and_out(ray, actors):
    pool = ray.util.ActorPool(actors[:1])
    pool.push(actors[1])

    with pytest.raises(ValueError, match="Actor already belongs to current ActorPool"):
        pool.push(actors[0])
    popped = pool.pop_idle()
    assert popped in actors
    assert pool.pop_idle() is not None
    assert pool.pop_idle() is None


def test_push_hands_a_waiting_value_to_the_new_actor(ray, actors):
    pool = ray.util.ActorPool([])
    pool.submit(lambda a, v: a.double.remote(v), 21)
    assert not pool.has_next()  # nothing can run yet

    pool.push(actors[0])
    assert pool.get_next() == 42


def test_a_function_that_returns_no_ref_is_refused(ray, actors):
    pool = ray.util.ActorPool(actors)

    with pytest.raises(TypeError, match="must return the ObjectRef"):
        pool.submit(lambda a, v: v, 1)
    assert pool.has_free()


def test_errors_reach_the_caller_and_the_actor_stays_in_the_pool(ray, actors):
    pool = ray.util.ActorPool(actors[:1])
    pool.submit(lambda a, v: a.double.remote(v), None)

    with pytest.raises(TypeError):
        pool.get_next()
    assert pool.has_free()
