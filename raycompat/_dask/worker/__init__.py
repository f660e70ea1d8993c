"""The code that runs inside worker processes: the task wrapper, the actor host, and their parts.

A task worker runs each Ray task through ``tasks.run_task`` (a generator task through
``generators.run_generator_task``); an actor host process is a paused ``host_worker.HostWorker``
whose ``actor_host.Host`` serves the actor's calls in order. Both run the user's code in the one
retry loop of ``calls`` (which also decides the Ray error a failure becomes), forward what it
prints to the driver (``output``), and set the task context of ``_dask/task_context.py``. The
object store is a HostWorker as well, taking ``put()`` objects through ``host_worker.accept_puts``.
"""
