"""The Dask backend: the only package of raycompat that imports distributed.

How a task and an actor call travel (docs/architecture.md has the module map)::

    f.remote(x)  remote_function ─▶ packing.pack_args: arguments pickled; top-level refs
                 become Dask dependencies ─▶ tasks.submit_task: client.submit(worker.tasks.run_task,
                 spec) under a key named after the function ─▶ scheduler
    scheduler    scheduler/queueing: the task waits until a worker has a free slot ─▶ worker
    worker       worker/tasks.run_task: the task context set, fn(*args) in the one retry loop
                 (worker/calls.py); the result, or a RayTaskError, is the key's value
    ray.get(ref) _objects ─▶ fetch.get: wait on the event loop, one gather for every ref ─▶
                 values in order, or the first failure as Ray's exception (errors.py)

    h.m.remote() actor.ActorMethod ─▶ actor_client.Channel: one TCP stream per actor, calls
                 written in order ─▶ worker/actor_host.Host, in a paused worker process of its
                 own (process/actor_spawn), runs them in order through the same retry loop;
                 small results ride back in the reply, large ones stay there as Dask data ─▶
                 the ref's ``_call`` future, read by get/wait like any other ref

Layers, each importing only downwards (checked by import-linter, see pyproject.toml):
driver verbs (connect, actor_client, tasks, placement, runtime_env, waiting) > packing,
streams > store > process/ > worker/ > refs > fetch > binding, completions, errors, nodes >
backend, object_store > scheduler/ > protocol, settings, dask_private, task_context, interrupts,
tls > shared_memory.
"""
