# A failing task raises its own exception type in the driver, and the cluster keeps working.
import ray

ray.init()


class InvalidOrder(Exception):
    pass


@ray.remote
def check_order(quantity):
    if quantity <= 0:
        raise InvalidOrder(f"quantity must be positive, got {quantity}")
    return quantity * 10


refs = [check_order.remote(q) for q in (1, -2, 3)]
results = []
for ref in refs:
    try:
        results.append(ray.get(ref))
    except InvalidOrder as exc:  # the task's own exception type
        assert isinstance(exc, ray.exceptions.RayTaskError)
        assert "quantity must be positive, got -2" in str(exc)
        results.append(None)
print(results)
assert results == [10, None, 30]
ray.shutdown()
