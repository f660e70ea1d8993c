# A stateful actor: calls through one handle run in order.
import ray

ray.init()

@ray.remote
class Counter:
    def __init__(self):
        self.value = 0

    def increment(self):
        self.value += 1
        return self.value

counter = Counter.remote()
refs = [counter.increment.remote() for _ in range(10)]
out = ray.get(refs)
print(out)
assert out == list(range(1, 11))
ray.shutdown()
