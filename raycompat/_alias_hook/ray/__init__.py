"""``import ray`` in a process started under raycompat: the runner's script, a task or an actor
started it (multiprocessing with "spawn", a ProcessPoolExecutor, a subprocess), and it inherited
``HOOK_DIR`` on its PYTHONPATH. It gets raycompat, as its parent does."""

import sys

import raycompat
from raycompat._alias import install_as_ray

sys.modules[__name__] = raycompat  # what `import ray` returns: the import system reads it back
install_as_ray()  # ray.<sub> from now on
