"""Starting, supervising and stopping raycompat's processes.

``commands`` says how a worker process is started; ``supervisor`` holds the one thread that
watches child processes (and asks each one's policy whether to restart it) and the one stopper.
"""
