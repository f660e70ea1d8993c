"""20,000 tiny tasks submitted in a loop, then gathered; prints whether every result is right
and the driver's peak RSS. Run by tests/test_load.py as ``python -m raycompat`` in a fresh
interpreter, so that the peak is this workload's alone."""

import json
import resource

import ray

N = 20_000

ray.init(num_cpus=2)


@ray.remote
def double(i):
    return 2 * i


refs = [double.remote(i) for i in range(N)]
values = ray.get(refs)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"right": values == [2 * i for i in range(N)], "peak_mb": peak_mb}))
