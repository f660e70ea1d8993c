# A generator task streams its values: each one can be used as soon as it is yielded.
import ray

ray.init()


@ray.remote
def countdown(n):
    for i in range(n, 0, -1):
        yield i


@ray.remote
def double(x):
    return 2 * x


gen = countdown.remote(5)  # an ObjectRefGenerator
doubled = [double.remote(ref) for ref in gen]  # each task starts as soon as its value exists

assert ray.get(doubled) == [10, 8, 6, 4, 2]
print("doubled", ray.get(doubled))
ray.shutdown()
