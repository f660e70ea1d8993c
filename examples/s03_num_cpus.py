# ray.init(num_cpus=4) sizes the embedded cluster.
import ray

ray.init(num_cpus=4)

@ray.remote
def my_function(x):
    return x * x

future = my_function.remote(10)
result = ray.get(future)
print(result)  # 100
assert result == 100
ray.shutdown()
