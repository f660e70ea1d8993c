"""``ray.cloudpickle``: Ray scripts import it to pickle functions and closures; it is cloudpickle."""

from cloudpickle import *  # noqa: F401,F403
from cloudpickle import __version__, dumps, loads  # noqa: F401
