# One task: add two numbers remotely (tutorial step 1).
import ray

ray.init()

@ray.remote
def add(x, y):
    return x + y

result_id = add.remote(1, 2)
result = ray.get(result_id)
print(result)  # 3
assert result == 3
ray.shutdown()
