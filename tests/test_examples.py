"""Every script in examples/ runs unchanged with ``python -m raycompat``; the tutorial's seed
scripts are among them, copied unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import describe, run_file

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SEEDS = REPO.parent / "shared" / "seed_examples"  # the tutorial's scripts, beside the repository
NEEDS_A_CLUSTER = {"s08_address_auto.py"}  # address='auto': runs against a `dask scheduler`


def _body(script: Path) -> str:
    """The script without its opening comment line."""
    text = script.read_text()
    return text.split("\n", 1)[1] if text.startswith("#") else text


def _copied_in_examples(seed: Path) -> Path | None:
    copy = EXAMPLES / seed.name
    return copy if copy.exists() and _body(copy) == _body(seed) else None


SCRIPTS = sorted(EXAMPLES.glob("*.py"))


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the tutorial's seed scripts are not beside this clone")
def test_every_seed_script_has_an_unchanged_copy_in_examples():
    seeds = sorted(SEEDS.glob("s*.py"))
    assert seeds
    assert [seed.name for seed in seeds if _copied_in_examples(seed) is None] == []


def _param(script: Path):
    return pytest.param(script, id=f"{script.parent.name}/{script.name}")


def test_every_example_opens_with_a_one_line_comment():
    for script in EXAMPLES.glob("*.py"):
        assert script.read_text().startswith("# "), script.name


@pytest.mark.parametrize("script", [_param(s) for s in SCRIPTS])
def test_script_runs_unchanged_and_its_assertions_hold(script, tmp_path, request):
    env = {}
    if script.name in NEEDS_A_CLUSTER:
        env["RAY_ADDRESS"] = request.getfixturevalue("dask_cluster")

    proc = run_file(script, env=env, cwd=tmp_path)

    assert proc.returncode == 0, describe(proc)
