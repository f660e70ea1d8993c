"""The public surface: ``__all__`` is pinned, and every name lives on a raycompat path."""

from __future__ import annotations

import inspect

import raycompat
from raycompat import exceptions

# The names a Ray core script reaches through ``ray.<name>``.
RAY_CORE_NAMES = {
    "ObjectRef",
    "available_resources",
    "cancel",
    "cluster_resources",
    "exceptions",
    "get",
    "get_actor",
    "get_gpu_ids",
    "get_runtime_context",
    "init",
    "is_initialized",
    "kill",
    "method",
    "nodes",
    "put",
    "remote",
    "shutdown",
    "util",
    "wait",
}

# ray.exceptions names that Ray 2.x scripts catch.
RAY_EXCEPTION_NAMES = {
    "ActorDiedError",
    "GetTimeoutError",
    "ObjectLostError",
    "RayActorError",
    "RayError",
    "RaySystemError",
    "RayTaskError",
    "TaskCancelledError",
    "WorkerCrashedError",
}


def test_all_is_sorted_and_every_name_exists():
    assert raycompat.__all__ == sorted(raycompat.__all__)
    assert len(set(raycompat.__all__)) == len(raycompat.__all__)
    for name in raycompat.__all__:
        assert hasattr(raycompat, name), name


def test_all_holds_the_names_ray_users_need():
    assert RAY_CORE_NAMES <= set(raycompat.__all__)
    assert "install_as_ray" in raycompat.__all__


def test_all_lists_every_public_attribute():
    public = {
        name
        for name, value in vars(raycompat).items()
        if not name.startswith("_") and not (inspect.ismodule(value) and name not in ("exceptions", "util"))
    }

    assert public - {"annotations"} == set(raycompat.__all__)


def test_public_names_live_on_raycompat_paths():
    for name in raycompat.__all__:
        value = getattr(raycompat, name)
        module = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", "raycompat")
        assert module.split(".")[0] == "raycompat", (name, module)


def test_functions_defined_in_private_modules_report_the_package():
    for func in (raycompat.get, raycompat.put, raycompat.wait, raycompat.cancel, raycompat.init,
                 raycompat.shutdown, raycompat.remote, raycompat.is_initialized):
        assert func.__module__ == "raycompat", func


def test_exceptions_module_has_rays_exception_names():
    assert RAY_EXCEPTION_NAMES <= set(exceptions.__all__)
    assert exceptions.__all__ == sorted(exceptions.__all__)


def test_version_is_a_string():
    assert isinstance(raycompat.__version__, str) and raycompat.__version__
