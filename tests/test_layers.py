"""The layers of docs/architecture.md hold: no module imports upwards, and there is no import cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "upward", "chain"),
    [
        ("_dask/fetch.py", "from .. import _session", "raycompat._dask.fetch -> raycompat._session"),
        ("_dask/scheduler/keys.py", "from .. import refs", "raycompat._dask.scheduler.keys -> raycompat._dask.refs"),
    ],
    ids=["backend-to-front-end", "scheduler-to-driver-side"],
)
def test_an_upward_import_breaks_the_contract(tmp_path, module, upward, chain):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "raycompat", copy / "raycompat", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    path = copy / "raycompat" / module
    path.write_text(path.read_text() + f"\n{upward}  # upward\n")
    result = _lint(copy)
    assert result.returncode != 0
    assert chain in result.stdout


def test_the_package_has_no_import_cycle():
    graph = grimp.build_graph("raycompat", exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    cycles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append((module, imported))
    assert cycles == []
