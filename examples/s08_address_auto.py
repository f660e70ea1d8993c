# Joins a running cluster (raycompat start --head, or RAY_ADDRESS) with address='auto'.
import ray

ray.init(address='auto')

@ray.remote
def square(x):
    return x * x

results = [square.remote(i) for i in range(10)]
out = ray.get(results)
print(out)
assert out == [i * i for i in range(10)]
ray.shutdown()
