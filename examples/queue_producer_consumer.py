# A producer task and a consumer actor share a ray.util.queue.Queue.
import ray
from ray.util.queue import Empty, Queue

ray.init()

DONE = None


@ray.remote
def producer(queue, n):
    for i in range(n):
        queue.put(i)  # blocks while the queue is full
    queue.put(DONE)
    return n


@ray.remote
class Consumer:
    def __init__(self, queue):
        self.queue = queue

    def drain(self):
        total = 0
        while (item := self.queue.get(timeout=60)) is not DONE:
            total += item
        return total


queue = Queue(maxsize=5)
consumer = Consumer.remote(queue)
produced = producer.remote(queue, 20)
total = ray.get(consumer.drain.remote())

assert ray.get(produced) == 20
assert total == sum(range(20)), total
try:
    queue.get_nowait()
except Empty:
    pass
else:
    raise AssertionError("the queue should be empty")
print("consumed", total)
ray.shutdown()
