"""ray.util.queue.Queue: blocking and non-blocking put/get, batches, and sharing with tasks."""

from __future__ import annotations

import asyncio
import queue as stdlib_queue

import pytest

from raycompat.util.queue import Empty, Full, Queue


@pytest.fixture(scope="module")
def shared_queue(ray_session):
    made = Queue(maxsize=3)  # one actor for the module: starting a process per test is slow
    yield made
    made.shutdown(force=True)


@pytest.fixture
def q(ray, shared_queue):
    yield shared_queue
    while True:  # leave it empty for the next test
        try:
            shared_queue.get_nowait()
        except Empty:
            break


def test_items_come_out_in_the_order_they_went_in(q):
    for item in range(3):
        q.put(item)

    assert q.qsize() == 3 and len(q) == 3 and q.size() == 3
    assert q.full() and not q.empty()
    assert [q.get() for _ in range(3)] == [0, 1, 2]
    assert q.empty()


def test_empty_and_full_subclass_the_standard_library_exceptions():
    assert issubclass(Empty, stdlib_queue.Empty) and Empty is not stdlib_queue.Empty
    assert issubclass(Full, stdlib_queue.Full) and Full is not stdlib_queue.Full


def test_non_blocking_calls_raise_empty_and_full_with_no_message(q):
    with pytest.raises(Empty) as info:
        q.get_nowait()
    assert str(info.value) == ""
    with pytest.raises(Empty):
        q.get(block=False)
    q.put_nowait_batch([1, 2, 3])
    with pytest.raises(Full) as info:
        q.put_nowait(4)
    assert str(info.value) == ""
    with pytest.raises(Full):
        q.put(4, block=False)


def test_timeouts_raise_empty_and_full(q):
    with pytest.raises(Empty):
        q.get(timeout=0.05)
    q.put_nowait_batch([1, 2, 3])
    with pytest.raises(Full):
        q.put(4, timeout=0.05)


def test_negative_timeouts_are_refused(q):
    with pytest.raises(ValueError, match="'timeout' must be a non-negative number"):
        q.get(timeout=-1)
    with pytest.raises(ValueError, match="'timeout' must be a non-negative number"):
        q.put(1, timeout=-1)


def test_batches_go_in_whole_or_not_at_all(q):
    with pytest.raises(Full, match="Cannot add 4 items to queue of size 0 and maxsize 3"):
        q.put_nowait_batch([1, 2, 3, 4])
    q.put_nowait_batch([1, 2])
    with pytest.raises(Empty, match="Cannot get 3 items from queue of size 2"):
        q.get_nowait_batch(3)
    assert q.get_nowait_batch(2) == [1, 2]


def test_batch_arguments_are_checked(q):
    with pytest.raises(TypeError, match="Argument 'items' must be an Iterable"):
        q.put_nowait_batch(5)
    with pytest.raises(TypeError, match="Argument 'num_items' must be an int"):
        q.get_nowait_batch("2")
    with pytest.raises(ValueError, match="'num_items' must be nonnegative"):
        q.get_nowait_batch(-1)


def test_a_blocked_get_returns_when_a_task_puts(ray, q):
    @ray.remote
    def produce(queue, n):
        for i in range(n):
            queue.put(i)
        return n

    done = produce.remote(q, 6)  # more than maxsize: the producer waits for the consumer
    assert [q.get(timeout=60) for _ in range(6)] == list(range(6))
    assert ray.get(done) == 6


def test_actors_can_consume_a_queue(ray, q):
    @ray.remote
    class Consumer:
        def __init__(self, queue):
            self.queue = queue

        def take(self, n):
            return [self.queue.get(timeout=60) for _ in range(n)]

    consumer = Consumer.remote(q)
    taken = consumer.take.remote(2)
    q.put("a")
    q.put("b")
    assert ray.get(taken) == ["a", "b"]


def test_async_put_and_get(q):
    async def main():
        await q.put_async(1)
        await q.put_async(2, block=False)
        return [await q.get_async(), await q.get_async(block=False)]

    assert asyncio.run(main()) == [1, 2]


def test_shutdown_ends_the_actor(ray):
    made = Queue()
    actor = made.actor
    made.shutdown()

    assert made.actor is None
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.qsize.remote(), timeout=60)
    with pytest.raises(RuntimeError, match="shut down"):
        made.put(1)
