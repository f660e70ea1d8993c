# Three tasks run in parallel; get() returns their results in order.
import ray
import time

ray.init()

@ray.remote
def add(x, y):
    time.sleep(1)
    return x + y

result_ids = [add.remote(i, i+1) for i in range(3)]
results = ray.get(result_ids)
print(results)  # [1, 3, 5]
assert results == [1, 3, 5]
ray.shutdown()
