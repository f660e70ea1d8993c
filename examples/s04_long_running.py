# Five slow tasks, gathered with one get().
import ray
import time

ray.init()

@ray.remote
def long_running_task(task_id):
    time.sleep(2)
    return f"Task {task_id} completed"

task_ids = [long_running_task.remote(i) for i in range(5)]
results = ray.get(task_ids)
for result in results:
    print(result)
assert results == [f"Task {i} completed" for i in range(5)]
ray.shutdown()
