# Handle results as they complete, using ray.wait in a loop.
import ray

ray.init(num_cpus=2)


@ray.remote
def cube(x):
    return x ** 3


pending = [cube.remote(i) for i in range(8)]
total = 0
while pending:
    done, pending = ray.wait(pending, num_returns=1)
    total += ray.get(done[0])
print(f"sum of cubes: {total}")
assert total == sum(i ** 3 for i in range(8))
ray.shutdown()
