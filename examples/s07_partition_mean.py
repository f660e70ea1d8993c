# Tasks take put() partitions as arguments and compute their means.
import ray
import pandas as pd
import numpy as np

ray.init()

@ray.remote
def process_partition(partition):
    return partition["column_name"].mean()

data = {'column_name': np.random.rand(100)}
df = pd.DataFrame(data)
num_partitions = 4
partitions = [df[i*(len(df)//num_partitions):(i+1)*(len(df)//num_partitions)] for i in range(num_partitions)]
data_partitions = [ray.put(partition) for partition in partitions]

results = [process_partition.remote(partition) for partition in data_partitions]
mean_values = ray.get(results)
print("partition means:", mean_values)
assert np.allclose(mean_values, [p["column_name"].mean() for p in partitions])

total_mean = sum(mean_values) / len(mean_values)
print("total mean:", total_mean)
assert abs(total_mean - df["column_name"].mean()) < 1e-9
ray.shutdown()
