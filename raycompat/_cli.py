"""The ``raycompat`` command: run a Ray script unchanged, and start, stop and inspect clusters.

``python -m raycompat SCRIPT [ARGS...]`` and ``raycompat run SCRIPT [ARGS...]`` install the
``ray`` alias, set ``sys.argv`` and run SCRIPT with ``runpy.run_path(..., run_name="__main__")``,
so the script runs exactly as ``python SCRIPT`` would with Ray installed.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import sysconfig

from . import _alias, _cluster_cli
from ._alias import install_as_ray

USAGE = """\
usage: raycompat run SCRIPT [ARGS...]     run a Ray script on Dask (also: python -m raycompat SCRIPT)
       raycompat start --head | --address HOST:PORT [options]
       raycompat stop
       raycompat status
       raycompat alias install | uninstall | status
                                         make plain `python SCRIPT` (and Jupyter, pytest...) in
                                         this environment give raycompat for `import ray`
"""

HOOK_FILE = "raycompat-alias.pth"  # one line, the alias's folder: Python adds it to sys.path


def alias_command(args: list[str]) -> None:
    """``raycompat alias install|uninstall|status``: the alias for every Python of this environment.

    ``install`` writes a .pth file into this environment's site-packages naming the folder whose
    ``ray`` package gives raycompat. Python appends that folder to sys.path at start-up, after
    site-packages, so a real Ray installed later still comes first. No code runs at start-up.
    """
    action = args[0] if len(args) == 1 else ""
    hook = os.path.join(sysconfig.get_paths()["purelib"], HOOK_FILE)
    if action == "install":
        real = _importable_ray()
        if real is not None and not os.path.exists(hook):
            sys.stderr.write(
                f"raycompat alias: the real Ray is installed here ({real}); `import ray` already gives it. "
                "Use a virtualenv without Ray, or run scripts with `python -m raycompat SCRIPT`.\n"
            )
            raise SystemExit(1)
        with open(hook, "w") as file:
            file.write(_alias.HOOK_DIR + "\n")
        sys.stdout.write(f"`import ray` now gives raycompat in {sys.prefix} (hook: {hook}).\n")
    elif action == "uninstall":
        if os.path.exists(hook):
            os.remove(hook)
            sys.stdout.write(f"Removed {hook}: `import ray` no longer gives raycompat in {sys.prefix}.\n")
        else:
            sys.stdout.write(f"No alias is installed in {sys.prefix}.\n")
    elif action == "status":
        found = _importable_ray()
        if found is None:
            sys.stdout.write("`import ray` fails here: no Ray, no alias. `raycompat alias install` adds it.\n")
        elif found == _alias.HOOK_DIR:
            sys.stdout.write(f"`import ray` gives raycompat (hook: {hook}).\n")
        else:
            sys.stdout.write(f"`import ray` gives the real Ray, from {found}.\n")
    else:
        sys.stderr.write("usage: raycompat alias install | uninstall | status\n")
        raise SystemExit(2)


def _importable_ray() -> str | None:
    """The folder `import ray` finds ray in, in a fresh Python of this environment; None if none."""
    probe = "import importlib.util as u, os; s = u.find_spec('ray'); print(os.path.dirname(os.path.dirname(s.origin)) if s and s.origin else '')"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def run_script(path: str, args: list[str]) -> None:
    """Run ``path`` as ``__main__`` with ``import ray`` giving raycompat."""
    if not os.path.isfile(path):
        sys.stderr.write(f"raycompat: no such script: {path!r}. Give the path of a Python file.\n")
        raise SystemExit(2)
    install_as_ray()
    # The processes the script starts get `import ray` too: a subprocess through PYTHONPATH,
    # a multiprocessing "spawn" child through the sys.path it copies from this process.
    _alias.inherit(os.environ)
    sys.path[:0] = [os.path.dirname(os.path.abspath(path)), _alias.HOOK_DIR]
    sys.argv = [path, *args]
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
    elif command == "alias":
        alias_command(rest)
    elif command in ("start", "stop", "status"):
        _cluster_cli.main(command, rest)
    elif command.endswith(".py") or os.path.isfile(command):
        run_script(command, rest)
    else:
        sys.stderr.write(f"raycompat: unknown command {command!r}.\n{USAGE}")
        raise SystemExit(2)


