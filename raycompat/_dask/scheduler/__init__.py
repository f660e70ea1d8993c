"""Code that runs inside the Dask scheduler: raycompat's scheduler extensions."""
