"""runtime_env: env_vars, working_dir and py_modules reach the workers; the rest fails clearly."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="module")
def importer(ray_session):
    import raycompat as ray

    @ray.remote
    def import_value(module_name):
        import importlib

        return importlib.import_module(module_name).VALUE

    return import_value


def test_working_dir_modules_can_be_imported_in_tasks(ray, importer, tmp_path):
    name = f"wd_module_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("VALUE = 42\n")

    env = {"working_dir": str(tmp_path)}
    assert ray.get(importer.options(runtime_env=env).remote(name)) == 42


def test_py_modules_ship_packages_and_files(ray, importer, tmp_path):
    package = f"pkg_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("VALUE = 'package'\n")
    single = f"single_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{single}.py").write_text("VALUE = 'file'\n")

    env = {"py_modules": [str(tmp_path / package), str(tmp_path / f"{single}.py")]}
    assert ray.get(importer.options(runtime_env=env).remote(package)) == "package"
    assert ray.get(importer.options(runtime_env=env).remote(single)) == "file"


def test_env_vars_still_apply(ray):
    @ray.remote(runtime_env={"env_vars": {"RAYCOMPAT_TEST_ENV": "yes"}})
    def read():
        import os

        return os.environ.get("RAYCOMPAT_TEST_ENV")

    assert ray.get(read.remote()) == "yes"


def test_fields_that_need_another_environment_are_refused(ray, importer):
    with pytest.raises(NotImplementedError, match=r"runtime_env\['conda'\] is not supported"):
        importer.options(runtime_env={"conda": "myenv"}).remote("x")


def test_bad_values_are_refused(ray, importer, tmp_path):
    with pytest.raises(TypeError, match=r"runtime_env\['pip'\] must be"):
        importer.options(runtime_env={"pip": 5}).remote("x")
    with pytest.raises(ValueError, match="must be a local directory"):
        importer.options(runtime_env={"working_dir": "s3://bucket/code.zip"}).remote("x")
    with pytest.raises(TypeError, match="py_modules"):
        importer.options(runtime_env={"py_modules": "pkg"}).remote("x")
