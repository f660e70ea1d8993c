"""The ``raycompat`` command: run a Ray script unchanged, and start, stop and inspect clusters.

``python -m raycompat SCRIPT [ARGS...]`` and ``raycompat run SCRIPT [ARGS...]`` install the
``ray`` alias, set ``sys.argv`` and run SCRIPT with ``runpy.run_path(..., run_name="__main__")``,
so the script runs exactly as ``python SCRIPT`` would with Ray installed.
"""

from __future__ import annotations

import os
import runpy
import sys

from . import _cluster_cli
from ._alias import install_as_ray

USAGE = """\
usage: raycompat run SCRIPT [ARGS...]     run a Ray script on Dask (also: python -m raycompat SCRIPT)
       raycompat start --head | --address HOST:PORT [options]
       raycompat stop
       raycompat status
"""


def run_script(path: str, args: list[str]) -> None:
    """Run ``path`` as ``__main__`` with ``import ray`` giving raycompat."""
    if not os.path.isfile(path):
        sys.stderr.write(f"raycompat: no such script: {path!r}. Give the path of a Python file.\n")
        raise SystemExit(2)
    install_as_ray()
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        raise SystemExit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    if command == "run":
        if not rest:
            sys.stderr.write("raycompat run: give the script to run: raycompat run SCRIPT [ARGS...]\n")
            raise SystemExit(2)
        run_script(rest[0], rest[1:])
    elif command in ("start", "stop", "status"):
        _cluster_cli.main(command, rest)
    elif command.endswith(".py") or os.path.isfile(command):
        run_script(command, rest)
    else:
        sys.stderr.write(f"raycompat: unknown command {command!r}.\n{USAGE}")
        raise SystemExit(2)


