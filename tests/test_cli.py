"""``python -m raycompat SCRIPT [ARGS...]`` and ``raycompat run SCRIPT [ARGS...]``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import describe, python_env

ARGV_SCRIPT = """
    import sys
    import ray
    import ray.exceptions
    import raycompat

    print(__name__, sys.argv[1:], sys.argv[0].endswith("script.py"))
    print(ray is raycompat, ray.exceptions is raycompat.exceptions)
    """


@pytest.mark.parametrize("via", ["raycompat", "cli"], ids=["python-m-raycompat", "raycompat-run"])
def test_runner_runs_the_script_as_main_with_its_arguments_and_the_alias(run_python, via):
    proc = run_python(ARGV_SCRIPT, "one", "--two", "3", via=via)

    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.splitlines() == ["__main__ ['one', '--two', '3'] True", "True True"]


def test_runner_passes_on_the_scripts_exit_code(run_python):
    proc = run_python("import sys\nsys.exit(3)\n")

    assert proc.returncode == 3, describe(proc)


def test_runner_shows_the_scripts_traceback_and_fails(run_python):
    proc = run_python("def broken():\n    raise ValueError('from the script')\nbroken()\n")

    assert proc.returncode == 1
    assert "in broken" in proc.stderr and "ValueError: from the script" in proc.stderr


def test_runner_lets_the_script_import_modules_next_to_it(run_python, tmp_path):
    (tmp_path / "helper_module.py").write_text("VALUE = 'helper'\n")

    proc = run_python("import helper_module\nprint(helper_module.VALUE)\n")

    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip() == "helper"


def test_script_importing_a_missing_ray_submodule_fails_with_import_error(run_python):
    proc = run_python("import ray.serve\n")

    assert proc.returncode == 1
    assert "ModuleNotFoundError: 'ray.serve' is not provided by raycompat." in proc.stderr


def _raycompat(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "raycompat", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(state_dir=cwd / "state"),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_missing_script_exits_2_with_a_message(tmp_path):
    proc = _raycompat("run", "no_such_script.py", cwd=tmp_path)

    assert proc.returncode == 2
    assert "raycompat: no such script: 'no_such_script.py'. Give the path of a Python file." in proc.stderr


def test_run_without_a_script_exits_2_with_usage(tmp_path):
    proc = _raycompat("run", cwd=tmp_path)

    assert proc.returncode == 2
    assert "raycompat run: give the script to run: raycompat run SCRIPT [ARGS...]" in proc.stderr


def test_no_arguments_prints_usage_and_help_exits_0(tmp_path):
    bare, helped = _raycompat(cwd=tmp_path), _raycompat("--help", cwd=tmp_path)

    assert bare.returncode == 2 and "usage: raycompat run SCRIPT [ARGS...]" in bare.stdout
    assert helped.returncode == 0 and "usage: raycompat run SCRIPT [ARGS...]" in helped.stdout


def test_unknown_command_exits_2_naming_it(tmp_path):
    proc = _raycompat("frobnicate", cwd=tmp_path)

    assert proc.returncode == 2
    assert "raycompat: unknown command 'frobnicate'." in proc.stderr
