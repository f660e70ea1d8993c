"""Every script in examples/ and the seed tutorial scripts run unchanged with ``python -m raycompat``."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import describe, run_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEEDS = Path("/work/shared/seed_examples")
NEEDS_A_CLUSTER = {"s08_address_auto.py"}  # address='auto': runs against a `dask scheduler`



def _body(script: Path) -> str:
    """The script without its opening comment line."""
    text = script.read_text()
    return text.split("\n", 1)[1] if text.startswith("#") else text


def _copied_in_examples(seed: Path) -> Path | None:
    copy = EXAMPLES / seed.name
    return copy if copy.exists() and _body(copy) == _body(seed) else None


# A seed script that examples/ holds unchanged (apart from its opening comment) runs once, there.
SCRIPTS = sorted(EXAMPLES.glob("*.py")) + [
    seed for seed in sorted(SEEDS.glob("s0[1-7]*.py")) if _copied_in_examples(seed) is None
]


def test_seed_scripts_are_run_here_or_as_their_copy_in_examples():
    for seed in sorted(SEEDS.glob("s0[1-7]*.py")):
        assert seed in SCRIPTS or _copied_in_examples(seed) in SCRIPTS, seed.name


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
