# Recursive Fibonacci: tasks submit and wait for other tasks without deadlocking the cluster.
import ray

ray.init(num_cpus=2)


@ray.remote(num_cpus=2)
def fib(n):
    if n < 2:
        return n
    return sum(ray.get([fib.remote(n - 1), fib.remote(n - 2)]))


result = ray.get(fib.remote(10))
print(f"fib(10) = {result}")
assert result == 55
ray.shutdown()
