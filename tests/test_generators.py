"""Generator tasks: ObjectRefGenerator (streaming, the default) and num_returns="dynamic"."""

from __future__ import annotations

import asyncio
import pickle

import pytest


def test_a_generator_function_streams_by_default(ray):
    @ray.remote
    def count(n):
        for i in range(n):
            yield i * 10

    gen = count.remote(4)

    assert isinstance(gen, ray.ObjectRefGenerator)
    refs = list(gen)
    assert all(isinstance(r, ray.ObjectRef) for r in refs)
    assert ray.get(refs) == [0, 10, 20, 30]
    assert gen.is_finished()
    with pytest.raises(StopIteration):
        next(gen)


def test_refs_arrive_while_the_task_is_still_running(ray, make_event):
    resume = make_event()

    @ray.remote(num_returns="streaming")
    def produce(name):
        import distributed

        yield "first"
        distributed.Event(name).wait(60)
        yield "second"

    gen = produce.remote(resume.name)
    first = next(gen)
    assert ray.get(first) == "first"
    ready, not_ready = ray.wait([gen.completed()], timeout=0)
    assert not ready  # the task is blocked after its first value
    resume.set()
    assert ray.get(next(gen)) == "second"
    assert list(gen) == []
    assert ray.get(gen.completed()) == 2


def test_an_error_mid_stream_reaches_the_consumer_at_that_point(ray):
    @ray.remote
    def flaky():
        yield 1
        yield 2
        raise ValueError("broke after two")

    gen = flaky.remote()
    assert ray.get(next(gen)) == 1
    assert ray.get(next(gen)) == 2
    failed = next(gen)
    with pytest.raises(ValueError, match="broke after two") as info:
        ray.get(failed)
    assert isinstance(info.value, ray.exceptions.RayTaskError)
    with pytest.raises(StopIteration):
        next(gen)


def test_async_for_over_a_generator(ray):
    @ray.remote
    def letters():
        yield from "abc"

    async def collect():
        out = []
        async for ref in letters.remote():
            out.append(await ref)
        return out

    assert asyncio.run(collect()) == ["a", "b", "c"]


def test_ray_wait_takes_generators_and_refs(ray, make_event):
    resume = make_event()

    @ray.remote
    def slow(name):
        import distributed

        distributed.Event(name).wait(60)
        yield 1

    @ray.remote
    def quick():
        return 5

    gen = slow.remote(resume.name)
    ref = quick.remote()
    ready, not_ready = ray.wait([gen, ref], num_returns=1, timeout=60)
    assert ready == [ref] and not_ready == [gen]
    assert not gen.next_ready()
    resume.set()
    ready, not_ready = ray.wait([gen], timeout=60)
    assert ready == [gen]
    assert gen.next_ready()
    assert ray.get(next(gen)) == 1
    with pytest.raises(TypeError, match="got a single ray.ObjectRef or ray.ObjectRefGenerator"):
        ray.wait(gen)


def test_dynamic_returns_one_ref_to_a_dynamic_generator(ray):
    @ray.remote(num_returns="dynamic")
    def split(n):
        for i in range(n):
            yield [i] * i

    ref = split.remote(3)
    assert isinstance(ref, ray.ObjectRef)
    dynamic = ray.get(ref)
    assert isinstance(dynamic, ray.DynamicObjectRefGenerator)
    assert len(dynamic) == 3
    assert ray.get(list(dynamic)) == [[], [1], [2, 2]]


def test_dynamic_refs_can_be_passed_to_tasks(ray):
    @ray.remote(num_returns="dynamic")
    def numbers():
        yield 3
        yield 4

    @ray.remote
    def total(*values):
        return sum(values)

    refs = list(ray.get(numbers.remote()))
    assert ray.get(total.remote(*refs)) == 7


def test_streamed_refs_can_be_passed_to_tasks(ray):
    @ray.remote
    def numbers():
        yield 3
        yield 4

    @ray.remote
    def double(x):
        return 2 * x

    assert ray.get([double.remote(r) for r in numbers.remote()]) == [6, 8]


def test_a_generator_cannot_be_pickled(ray):
    @ray.remote
    def one():
        yield 1

    gen = one.remote()
    with pytest.raises(TypeError, match="Serializing a ObjectRefGenerator is not allowed"):
        pickle.dumps(gen)
    assert ray.get(next(gen)) == 1


def test_streaming_a_plain_function_fails_with_a_clear_error(ray):
    @ray.remote(num_returns="streaming")
    def plain():
        return 1

    gen = plain.remote()
    with pytest.raises(TypeError, match="not a generator"):
        ray.get(next(gen))


def test_a_generator_with_num_returns_1_fails_to_return_its_generator(ray):
    @ray.remote(num_returns=1)
    def gen():
        yield 1

    with pytest.raises(TypeError, match="serialize"):
        ray.get(gen.remote())


def test_generators_work_inside_tasks(ray):
    @ray.remote
    def inner(n):
        yield from range(n)

    @ray.remote
    def outer(n):
        return sum(ray.get(list(inner.remote(n))))

    assert ray.get(outer.remote(5)) == 10
