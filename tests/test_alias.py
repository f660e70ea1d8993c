"""install_as_ray(): ``import ray`` and every ``ray.<sub>`` give raycompat's own modules.

Each test runs in a fresh interpreter, where no alias is installed yet.
"""

from __future__ import annotations

from conftest import describe


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
