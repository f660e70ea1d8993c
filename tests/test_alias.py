"""install_as_ray(): ``import ray`` and every ``ray.<sub>`` give raycompat's own modules.

Each test runs in a fresh interpreter, where no alias is installed yet.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import SUBPROCESS_TIMEOUT, describe, python_env


def output(proc):
    assert proc.returncode == 0, describe(proc)
    return proc.stdout.splitlines()


def test_import_ray_fails_before_the_alias_is_installed(run_python):
    proc = run_python(
        """
        try:
            import ray
        except ImportError as exc:
            print(type(exc).__name__)
        """,
        via="python",
    )

    assert output(proc) == ["ModuleNotFoundError"]


def test_install_as_ray_maps_ray_and_its_submodules_to_the_same_module_objects(run_python):
    proc = run_python(
        """
        import sys
        import raycompat

        raycompat.install_as_ray()
        import ray
        import ray.exceptions
        import ray.remote_function
        import ray.util
        from ray.exceptions import RayTaskError
        from ray import ObjectRef

        print(ray is raycompat, sys.modules["ray"] is raycompat)
        print(ray.exceptions is raycompat.exceptions is sys.modules["raycompat.exceptions"])
        print(ray.util is raycompat.util, ray.remote_function is sys.modules["raycompat.remote_function"])
        print(RayTaskError is raycompat.exceptions.RayTaskError, ObjectRef is raycompat.ObjectRef)
        print(sorted(name for name in sys.modules if name.startswith("ray.") and
                     sys.modules[name] is not sys.modules["raycompat" + name[3:]]))
        """,
        via="python",
    )

    assert output(proc) == ["True True", "True", "True True", "True True", "[]"]


def test_install_as_ray_is_idempotent(run_python):
    proc = run_python(
        """
        import sys
        import raycompat

        raycompat.install_as_ray()
        raycompat.install_as_ray()
        import ray
        print(sum(type(f).__name__ == "_AliasFinder" for f in sys.meta_path), ray is raycompat)
        """,
        via="python",
    )

    assert output(proc) == ["1 True"]


def test_missing_submodule_fails_with_an_import_error_that_says_so(run_python):
    proc = run_python(
        """
        import raycompat

        raycompat.install_as_ray()
        try:
            import ray.serve
        except ImportError as exc:
            print(type(exc).__name__, exc.name)
            print(exc)
        """,
        via="python",
    )

    out = output(proc)
    assert out[0] == "ModuleNotFoundError ray.serve"
    assert out[1].startswith("'ray.serve' is not provided by raycompat.")
    assert "install Ray to use it" in out[1]


def test_install_as_ray_refuses_when_the_real_ray_is_already_imported(run_python):
    proc = run_python(
        """
        import sys, types
        import raycompat

        sys.modules["ray"] = types.ModuleType("ray")  # stands for the real Ray
        try:
            raycompat.install_as_ray()
        except RuntimeError as exc:
            print(exc)
        """,
        via="python",
    )

    out = output(proc)
    assert out[0].startswith("The real Ray is already imported in this process.")
    assert "before any `import ray`" in out[0]


def test_pickles_name_raycompat_not_the_alias(run_python):
    proc = run_python(
        """
        import pickle
        import raycompat

        raycompat.install_as_ray()
        import ray
        import ray.exceptions

        blob = pickle.dumps(ray.exceptions.GetTimeoutError("x"))
        print(b"raycompat.exceptions" in blob, b"ray.exceptions" in blob.replace(b"raycompat.exceptions", b""))
        print(ray.get.__module__, ray.ObjectRef.__module__)
        """,
        via="python",
    )

    assert output(proc) == ["True False", "raycompat raycompat"]


SCRIPT = """
import ray

@ray.remote
def square(x):
    return x * x

ray.init(num_cpus=1, include_dashboard=False)
print(ray.get(square.remote(7)), ray.__name__)
"""


def test_alias_install_makes_plain_python_script_work_and_uninstall_undoes_it(tmp_path):
    # A fresh virtualenv that sees this environment's packages (raycompat among them) but has
    # its own site-packages, where the hook goes.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)

    def run(*args):
        return subprocess.run([python, *args], capture_output=True, text=True, cwd=tmp_path, env=python_env(state_dir=tmp_path / "state"), timeout=SUBPROCESS_TIMEOUT)

    before = run(str(script))
    assert "No module named 'ray'" in before.stderr, describe(before)
    assert "fails here" in run("-m", "raycompat", "alias", "status").stdout

    installed = run("-m", "raycompat", "alias", "install")
    assert installed.returncode == 0, describe(installed)
    assert "gives raycompat" in run("-m", "raycompat", "alias", "status").stdout
    after = run(str(script))
    assert (after.returncode, after.stdout) == (0, "49 raycompat\n"), describe(after)

    removed = run("-m", "raycompat", "alias", "uninstall")
    assert removed.returncode == 0, describe(removed)
    again = run(str(script))
    assert "No module named 'ray'" in again.stderr, describe(again)


def test_processes_a_script_starts_get_import_ray_too(run_python):
    # Ray's documentation recommends "spawn" with a process pool; each child re-imports the
    # script, `import ray` included. A task's subprocess imports ray as well.
    proc = run_python(
        """
        import multiprocessing
        import subprocess
        import sys
        from concurrent.futures import ProcessPoolExecutor

        import ray


        def square(x):
            return x * x, ray.__name__


        @ray.remote
        def child_imports_ray():
            code = "import ray, ray.util; print(ray.__name__, ray.util.__name__)"
            return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout


        if __name__ == "__main__":
            multiprocessing.set_start_method("spawn")
            ray.init(num_cpus=2, include_dashboard=False)
            with ProcessPoolExecutor(2) as pool:
                print(list(pool.map(square, range(3))))
            print(ray.get(child_imports_ray.remote()), end="")
        """
    )
    assert output(proc) == ["[(0, 'raycompat'), (1, 'raycompat'), (4, 'raycompat')]", "raycompat raycompat.util"]
