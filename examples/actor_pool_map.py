# Spread work over two actors with ray.util.ActorPool.map.
import ray
from ray.util import ActorPool

ray.init()


@ray.remote
class Squarer:
    def __init__(self):
        self.calls = 0

    def square(self, x):
        self.calls += 1
        return x * x

    def count(self):
        return self.calls


actors = [Squarer.remote() for _ in range(2)]
pool = ActorPool(actors)
results = list(pool.map(lambda actor, x: actor.square.remote(x), range(10)))

assert results == [x * x for x in range(10)], results
assert sum(ray.get([a.count.remote() for a in actors])) == 10
print("squares", results)
ray.shutdown()
