"""Starting, supervising and stopping raycompat's processes.

``commands`` says how a worker process is started; ``supervisor`` holds the one thread that
watches child processes (and asks each one's policy whether to restart it) and the one
stopper; ``embedded`` is the cluster that ``init()`` starts, ``node_main`` a node of
`raycompat start`, and ``actor_spawn`` starts and restarts actor hosts.
"""
