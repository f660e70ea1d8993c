"""Actors: creation, ordering, isolation, handles, options, named actors, ending and failures."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time

import psutil
import pytest
from distributed import Event

import raycompat
from raycompat import exceptions


@raycompat.remote
class Counter:
    def __init__(self, start=0):
        self.value = start

    def increment(self, by=1):
        self.value += by
        return self.value

    def get(self):
        return self.value

    def pid(self):
        return os.getpid()

    def fail(self, message):
        raise KeyError(message)

    @raycompat.method(num_returns=2)
    def pair(self):
        return self.value, -self.value

    def echo(self, x):
        return x


@raycompat.remote
def call_counter(handle, n):
    """A task that drives an actor through a handle it was given."""
    return raycompat.get([handle.increment.remote() for _ in range(n)])


@raycompat.remote
def plus_one(x):
    return x + 1


def test_remote_returns_a_handle_without_waiting_for_init(ray, make_event):
    @ray.remote
    class Slow:
        def __init__(self, event_name):
            Event(event_name).wait(60)  # __init__ blocks until the test says so

        def ready(self):
            return "ready"

    release = make_event()
    handle = Slow.remote(release.name)  # returns although __init__ cannot finish yet
    ref = handle.ready.remote()
    ready, _ = ray.wait([ref], timeout=0.5)
    assert ready == []
    release.set()
    assert ray.get(ref, timeout=60) == "ready"


def test_counter_keeps_state_and_calls_run_in_order(ray):
    counter = Counter.remote()
    refs = [counter.increment.remote() for _ in range(1000)]
    assert ray.get(refs) == list(range(1, 1001))


def test_calls_through_a_handle_passed_into_a_task_run_in_order(ray):
    counter = Counter.remote()
    assert ray.get(call_counter.remote(counter, 1000), timeout=120) == list(range(1, 1001))


def test_each_actor_has_its_own_state_and_process(ray):
    a, b = Counter.remote(10), Counter.remote(100)
    ray.get([a.increment.remote(), b.increment.remote(5)])
    assert ray.get([a.get.remote(), b.get.remote()]) == [11, 105]
    assert ray.get(a.pid.remote()) != ray.get(b.pid.remote())


def test_direct_instantiation_and_direct_method_call_raise_type_error(ray):
    with pytest.raises(TypeError, match=r"Actors cannot be instantiated directly. Instead of 'Counter\(\)', use 'Counter.remote\(\)'"):
        Counter()
    counter = Counter.remote()
    with pytest.raises(TypeError, match=r"Actor methods cannot be called directly.*'object.get.remote\(\)'"):
        counter.get()
    with pytest.raises(AttributeError, match="'ActorHandle' object has no attribute 'nope'"):
        counter.nope
    with pytest.raises(TypeError):
        Counter.remote(1, 2, 3)  # __init__ takes at most one argument
    with pytest.raises(TypeError):
        counter.get.remote(1)
    assert ray.get(counter.increment.remote()) == 1  # still works


def test_results_are_object_refs_usable_everywhere(ray):
    a, b = Counter.remote(), Counter.remote()
    ref = a.increment.remote(41)
    assert isinstance(ref, ray.ObjectRef)
    ready, not_ready = ray.wait([ref], timeout=60)
    assert ready == [ref] and not_ready == []
    assert ray.get(plus_one.remote(ref)) == 42  # an actor result as a task argument
    assert ray.get(b.echo.remote(ref)) == 41  # ... and as another actor's argument
    assert ray.get(b.echo.remote([ref]))[0] == ref  # nested refs stay refs
    assert ray.get(b.echo.remote(plus_one.remote(1))) == 2  # a task result into an actor


def test_pending_actor_result_can_be_passed_on_at_once(ray):
    a = Counter.remote()
    ref = a.increment.remote(5)  # not finished yet: the actor may still be starting
    assert ray.get(plus_one.remote(ref), timeout=60) == 6


def test_num_returns_on_methods(ray):
    counter = Counter.remote(3)
    first, second = counter.pair.remote()
    assert ray.get([first, second]) == [3, -3]
    x, y, z = counter.echo.options(num_returns=3).remote((1, 2, 3))
    assert ray.get([x, y, z]) == [1, 2, 3]


def test_method_error_is_ray_task_error_of_user_class_and_actor_survives(ray):
    counter = Counter.remote()
    with pytest.raises(KeyError) as info:
        ray.get(counter.fail.remote("broken"))
    assert isinstance(info.value, exceptions.RayTaskError)
    assert "Counter.fail" in str(info.value) and "broken" in str(info.value)
    assert ray.get(counter.increment.remote()) == 1


def test_constructor_error_makes_calls_raise_actor_died_error(ray):
    @ray.remote
    class Broken:
        def __init__(self):
            raise ValueError("init boom")

        def ping(self):
            return "pong"

    broken = Broken.remote()
    with pytest.raises(exceptions.ActorDiedError, match="init boom") as info:
        ray.get(broken.ping.remote(), timeout=60)
    assert "creation task" in str(info.value)
    assert not isinstance(info.value, ValueError)
    with pytest.raises(exceptions.ActorDiedError):
        ray.get(broken.ping.remote(), timeout=60)


def test_two_cpu_bound_actors_run_at_the_same_time(ray):
    @ray.remote
    class Spinner:
        def spin_until_other_started(self, mine, other):
            Event(mine).set()
            x = 0
            while not Event(other).is_set():  # pure-Python work that holds the GIL
                for i in range(10_000):
                    x += i
            return os.getpid()

    tag = f"spin-{time.monotonic_ns()}"
    a, b = Spinner.remote(), Spinner.remote()
    pids = ray.get([a.spin_until_other_started.remote(f"{tag}-a", f"{tag}-b"), b.spin_until_other_started.remote(f"{tag}-b", f"{tag}-a")], timeout=60)
    assert pids[0] != pids[1]


def test_busy_actor_does_not_stall_tasks_or_other_actors(ray, make_event):
    @ray.remote
    class Blocker:
        def block(self, name):
            Event(name).wait(60)
            return "released"

    release = make_event()
    blocker = Blocker.remote()
    blocked = blocker.block.remote(release.name)
    other = Counter.remote()
    assert ray.get(other.increment.remote(), timeout=60) == 1
    assert ray.get(plus_one.remote(1), timeout=60) == 2
    release.set()
    assert ray.get(blocked, timeout=60) == "released"


def test_handles_travel_to_tasks_and_actors_and_back(ray):
    @ray.remote
    def make_counter():
        return Counter.remote(7)

    @ray.remote
    class Owner:
        def __init__(self):
            self.child = Counter.remote(1)  # actors create actors

        def child_handle(self):
            return self.child

        def bump(self, handle):
            return raycompat.get(handle.increment.remote())

        def run_task(self):
            return raycompat.get(plus_one.remote(1))  # actors submit tasks

    counter = ray.get(make_counter.remote(), timeout=60)  # a handle returned from a task
    assert ray.get(counter.increment.remote(), timeout=60) == 8
    owner = Owner.remote()
    assert ray.get(owner.bump.remote(counter), timeout=60) == 9  # a handle passed to an actor
    child = ray.get(owner.child_handle.remote(), timeout=60)
    assert ray.get(child.increment.remote(), timeout=60) == 2
    assert ray.get(owner.run_task.remote(), timeout=60) == 2


def test_async_actor_runs_calls_concurrently_and_awaits_refs(ray):
    @ray.remote
    class AsyncWorker:
        def __init__(self):
            self.event = None

        async def wait_for_partner(self):
            if self.event is None:
                self.event = asyncio.Event()
                await asyncio.wait_for(self.event.wait(), 60)  # released by the second call
                return "first"
            self.event.set()
            return "second"

        async def add_one(self, ref_list):
            return await ref_list[0] + 1

    worker = AsyncWorker.remote()
    refs = [worker.wait_for_partner.remote(), worker.wait_for_partner.remote()]
    assert ray.get(refs, timeout=60) == ["first", "second"]
    assert ray.get(worker.add_one.remote([plus_one.remote(1)]), timeout=60) == 3


def test_threaded_actor_runs_max_concurrency_calls_at_once(ray):
    @ray.remote(max_concurrency=2)
    class Pair:
        def meet(self, mine, other):
            Event(mine).set()
            return Event(other).wait(60)

    tag = f"pair-{time.monotonic_ns()}"
    pair = Pair.remote()
    refs = [pair.meet.remote(f"{tag}-a", f"{tag}-b"), pair.meet.remote(f"{tag}-b", f"{tag}-a")]
    assert ray.get(refs, timeout=60) == [True, True]


def test_named_actors(ray):
    name = f"named-{time.monotonic_ns()}"
    counter = Counter.options(name=name).remote(5)
    assert ray.get(ray.get_actor(name).increment.remote(), timeout=60) == 6
    with pytest.raises(exceptions.ActorAlreadyExistsError, match=f"The name {name} .* is already taken") as info:
        Counter.options(name=name).remote()
    assert isinstance(info.value, ValueError)
    same = Counter.options(name=name, get_if_exists=True).remote()
    assert same == counter and ray.get(same.get.remote()) == 6
    assert name in ray.util.list_named_actors()
    with pytest.raises(ValueError, match="Failed to look up actor with name 'missing-actor'"):
        ray.get_actor("missing-actor")
    with pytest.raises(ValueError, match="non-empty"):
        ray.get_actor("")
    other_ns = Counter.options(name=name, namespace="elsewhere").remote()  # names are per namespace
    assert ray.get(ray.get_actor(name, namespace="elsewhere").get.remote()) == 0
    ray.kill(other_ns)


def test_kill_makes_later_calls_raise_actor_died_error(ray):
    name = f"killed-{time.monotonic_ns()}"
    counter = Counter.options(name=name).remote()
    assert ray.get(counter.increment.remote()) == 1
    ray.kill(counter)
    with pytest.raises(exceptions.ActorDiedError, match="killed by `ray.kill`") as info:
        ray.get(counter.increment.remote(), timeout=60)
    assert isinstance(info.value, exceptions.RayActorError)
    with pytest.raises(ValueError, match="Failed to look up"):
        ray.get_actor(name)  # the name is free again
    with pytest.raises(ValueError, match=r"ray.kill\(\) only supported for actors"):
        ray.kill(42)


def test_ray_terminate_ends_the_actor_after_pending_calls(ray):
    counter = Counter.remote()
    first = counter.increment.remote()
    done = counter.__ray_terminate__.remote()
    assert ray.get([first, done], timeout=60) == [1, None]
    with pytest.raises(exceptions.ActorDiedError):
        ray.get(counter.increment.remote(), timeout=60)


def test_actor_ends_when_its_last_handle_is_gone_unless_detached(ray):
    counter = Counter.remote()
    pending = counter.increment.remote()
    process = psutil.Process(ray.get(counter.pid.remote()))
    del counter
    gc.collect()
    assert ray.get(pending) == 1  # calls sent before the handle went still complete
    process.wait(timeout=30)  # then the actor's process ends
    assert not process.is_running()

    name = f"detached-{time.monotonic_ns()}"
    detached = Counter.options(name=name, lifetime="detached").remote()
    pid = ray.get(detached.pid.remote())
    del detached
    gc.collect()
    survivor = ray.get_actor(name)
    assert ray.get(survivor.pid.remote()) == pid
    ray.kill(survivor)


def test_process_death_raises_actor_died_error(ray):
    counter = Counter.remote()
    pid = ray.get(counter.pid.remote(), timeout=60)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(exceptions.ActorDiedError):
        ray.get(counter.increment.remote(), timeout=60)


def test_max_restarts_reruns_init_and_later_calls_succeed(ray):
    counter = Counter.options(max_restarts=1).remote(100)
    assert ray.get(counter.increment.remote(), timeout=60) == 101
    pid = ray.get(counter.pid.remote())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:  # the call in flight when the process died may fail with ActorUnavailableError
        try:
            value = ray.get(counter.increment.remote(), timeout=60)
            break
        except exceptions.ActorUnavailableError:
            assert time.monotonic() < deadline
    assert value == 101  # __init__ ran again: the state starts over
    assert ray.get(counter.pid.remote()) != pid


def test_call_in_flight_during_a_crash_is_unavailable_or_retried(ray):
    @ray.remote(max_restarts=2)
    class Victim:
        def crash(self):
            os._exit(1)

        def ok(self):
            return "ok"

    victim = Victim.remote()
    with pytest.raises(exceptions.ActorUnavailableError):
        ray.get(victim.crash.remote(), timeout=60)
    assert ray.get(victim.ok.remote(), timeout=60) == "ok"
    retried = Victim.options(max_restarts=1, max_task_retries=1).remote()
    assert ray.get(retried.ok.remote(), timeout=60) == "ok"
    with pytest.raises(exceptions.ActorDiedError):  # retried once, crashed again: out of restarts
        ray.get(retried.crash.remote(), timeout=60)


def test_actor_calls_show_in_task_stream_as_class_and_method(ray):
    counter = Counter.remote()
    ray.get([counter.increment.remote() for _ in range(3)])
    client = ray._session.current().client
    names = client.run_on_scheduler(
        lambda dask_scheduler: [r["key"] for r in dask_scheduler.plugins["task-stream"].buffer]
    )
    assert any(name.startswith("Counter.increment-") for name in names)


def test_actor_options_are_validated(ray):
    with pytest.raises(ValueError, match="Invalid option keyword max_restart for actors"):
        Counter.options(max_restart=1)
    with pytest.raises(ValueError, match="max_concurrency"):
        Counter.options(max_concurrency=0)
    with pytest.raises(ValueError, match="lifetime"):
        Counter.options(lifetime="forever")
    with pytest.raises(ValueError, match="name must be specified to use `get_if_exists`"):
        Counter.options(get_if_exists=True).remote()
    with pytest.raises(ValueError, match='"" is not a valid namespace'):
        Counter.options(name="n", namespace="").remote()


# -- behaviours checked against Ray 2.60 ----------------------------------------------------------


@raycompat.remote
class Member:
    @staticmethod
    def static(x):
        return x + 100

    @classmethod
    def klass(cls, x):
        return cls.__name__, x

    @raycompat.method
    def bare(self):
        return "bare"

    def two_arg_error(self):
        class TwoArgError(Exception):
            """Pickles as TwoArgError(message), which __init__ refuses: it cannot cross processes."""

            def __init__(self, a, b):
                super().__init__(f"{a}-{b}")

        raise TwoArgError(1, 2)

    def context(self):
        ctx = raycompat.get_runtime_context()
        return ctx.get_actor_name(), ctx.current_actor, ctx.was_current_actor_reconstructed

    def exit(self, how):
        if how == "exit_actor":
            raycompat.actor.exit_actor()
        raise SystemExit(0)

    def ok(self):
        return "ok"


def test_static_class_and_bare_decorated_methods_and_ray_ready(ray):
    member = Member.remote()
    assert ray.get(member.static.remote(1)) == 101
    assert ray.get(member.klass.remote(1)) == ("Member", 1)
    assert ray.get(member.bare.remote()) == "bare"
    assert ray.get(member.__ray_ready__.remote()) is True
    assert member._actor_id.hex() == str(member._actor_id)


def test_an_exception_that_cannot_be_unpickled_leaves_the_actor_working(ray):
    member = Member.remote()
    with pytest.raises(exceptions.RayTaskError, match="TwoArgError: 1-2"):
        ray.get(member.two_arg_error.remote(), timeout=60)
    assert ray.get(member.ok.remote(), timeout=60) == "ok"


def test_runtime_context_inside_an_actor(ray):
    named, unnamed = Member.options(name="context-probe").remote(), Member.remote()
    assert ray.get(named.context.remote()) == ("context-probe", named, False)
    assert ray.get(unnamed.context.remote()) == ("", unnamed, False)


@pytest.mark.parametrize("how", ["exit_actor", "sys.exit"])
def test_a_method_that_exits_ends_the_actor_without_restart(ray, how):
    member = Member.options(max_restarts=2).remote()
    for _ in range(2):  # this call, and every later one
        with pytest.raises(exceptions.ActorDiedError, match=f"called {how}"):
            ray.get(member.exit.remote(how), timeout=60)


def test_exit_actor_outside_an_actor_raises_type_error(ray):
    with pytest.raises(TypeError, match="non-actor"):
        raycompat.actor.exit_actor()


def test_a_class_without_init_takes_no_arguments(ray):
    class Plain:
        def f(self):
            return 1

    with pytest.raises(TypeError):
        raycompat.remote(Plain).remote(1)


@raycompat.remote
class AsyncWorker:
    def __init__(self):
        self.attempts = 0

    async def slow(self, event_name):
        await asyncio.get_running_loop().run_in_executor(None, Event(event_name).wait, 60)
        return "done"

    async def flaky(self):
        self.attempts += 1
        if self.attempts == 1:
            raise ValueError("first attempt")
        return self.attempts


def test_async_actor_finishes_running_calls_when_its_handle_is_dropped(ray, make_event):
    release = make_event()
    worker = AsyncWorker.remote()
    refs = [worker.slow.remote(release.name) for _ in range(2)]
    del worker
    gc.collect()
    release.set()
    assert ray.get(refs, timeout=60) == ["done", "done"]


def test_async_actor_retries_exceptions_when_asked(ray):
    worker = AsyncWorker.remote()
    flaky = worker.flaky.options(max_task_retries=1, retry_exceptions=True)
    assert ray.get(flaky.remote(), timeout=60) == 2


def test_an_actor_call_with_max_task_retries_minus_one_retries_without_limit(ray):
    @ray.remote
    class Flaky:
        def __init__(self):
            self.calls = 0

        def succeed_on_the_fifth(self):
            self.calls += 1
            if self.calls < 5:
                raise ValueError(f"attempt {self.calls}")
            return self.calls

    flaky = Flaky.options(max_task_retries=-1).remote()
    assert ray.get(flaky.succeed_on_the_fifth.options(retry_exceptions=True).remote(), timeout=60) == 5
