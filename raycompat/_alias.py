"""``install_as_ray()``: make ``import ray`` (and ``import ray.<sub>``) give raycompat's modules.

One meta-path finder maps ``ray`` and ``ray.<sub>`` to ``raycompat`` and ``raycompat.<sub>`` and
returns the very module objects already imported, never a second copy. Nothing is installed at
import time: no top-level ``ray`` package, no ``.pth`` hook.

The processes a Ray script starts get the alias through their environment: ``inherit()`` puts
``HOOK_DIR``, whose ``ray`` package installs it, first on the PYTHONPATH they inherit.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Sequence

PACKAGE = "raycompat"
HOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_alias_hook")


def _real_name(name: str) -> str:
    return PACKAGE + name[len("ray"):]


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "ray" and not fullname.startswith("ray."):
            return None
        real = _real_name(fullname)
        try:
            found = importlib.util.find_spec(real)
        except ModuleNotFoundError:
            found = None
        if found is None:
            raise ModuleNotFoundError(
                f"{fullname!r} is not provided by raycompat. See docs/compatibility.md for what "
                "is; install Ray to use it.",
                name=fullname,
            )
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(_real_name(spec.name))

    def exec_module(self, module: ModuleType) -> None:
        pass  # already executed under its real name


_finder = _AliasFinder()


def install_as_ray() -> None:
    """Make ``import ray`` give raycompat, in this process. Idempotent.

    Raises:
        RuntimeError: If the real Ray is already imported; call this before any ``import ray``.
    """
    existing = sys.modules.get("ray")
    if existing is not None and not getattr(existing, "__name__", "").startswith(PACKAGE):
        raise RuntimeError(
            "The real Ray is already imported in this process. Call raycompat.install_as_ray() "
            "before any `import ray`, or run the script with `python -m raycompat SCRIPT`."
        )
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def inherit(env: dict[str, str]) -> None:
    """Make ``import ray`` give raycompat in processes started with ``env`` (updated in place)."""
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != HOOK_DIR]
    env["PYTHONPATH"] = os.pathsep.join([HOOK_DIR, *paths])
