# ray.put stores pandas partitions; get() brings them back.
import ray
import pandas as pd
import numpy as np

ray.init()

data = {'column_name': np.random.rand(100)}
df = pd.DataFrame(data)

num_partitions = 10
data_partitions = [ray.put(df[i*(len(df)//num_partitions):(i+1)*(len(df)//num_partitions)]) for i in range(num_partitions)]

print(f"{num_partitions} partitions: {data_partitions}")
back = pd.concat(ray.get(data_partitions))
assert back.equals(df)
ray.shutdown()
