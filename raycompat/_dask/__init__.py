"""The Dask backend: the only package of raycompat that imports distributed.

How a task and an actor call travel (docs/architecture.md has the module map)::

    f.remote(x)  remote_function ─▶ packing.pack_args (args pickled, refs -> Dask dependencies)
                                 ─▶ tasks.submit_task ─ client.submit(worker.tasks.run_task, spec) ─▶ scheduler
    scheduler    queues it until a worker has a free slot (scheduler/queueing.py) ─▶ worker
    worker       worker/tasks.run_task: unpickle fn + args, run with the task context set,
                 retry per Ray's rules (worker/calls.py); the result (or a RayTaskError) is
                 the Dask key's value
    ray.get(ref) _objects ─▶ fetch.get ─ one gather for every ref ─▶ values in order, or
                 the first failure's Ray exception (errors.py)

    h.m.remote() actor.ActorMethod ─▶ actor_client.Channel: one TCP stream per actor, calls
                 written in order ─▶ worker/actor_host.Host (its own paused Dask worker process)
                 runs them in order, through worker/calls.py as tasks do; small results ride
                 back in the reply, large ones stay there as Dask data ─▶ the ref's ``_call``
                 future; get() reads it like any ref

Layers, each importing only downwards: the driver's verbs (connect, tasks, store, waiting,
streams, actor_client, placement) > processes (cluster, node_main, actor_host) > worker code
(worker/) > the ref core (refs, fetch, binding, completions, backend, errors, object_store,
nodes) > scheduler extensions (scheduler/) > the base every process shares
(protocol, settings, dask_private, task_context).
"""
