# ray.wait returns the task that finishes first.
import ray
import time

ray.init()

@ray.remote
def slow_task(delay):
    time.sleep(delay)
    return delay

task1 = slow_task.remote(3)
task2 = slow_task.remote(1)

done_ids, remaining_ids = ray.wait([task1, task2], num_returns=1)
first = ray.get(done_ids[0])
print(f"First task completed: {first}")
assert first == 1 and len(remaining_ids) == 1
ray.shutdown()
