"""Options of remote functions: checked when the decorator is applied, with Ray's error types."""

from __future__ import annotations

import os

import pytest


def _define(ray, **options):
    @ray.remote(**options)
    def f():
        return 1

    return f


@pytest.mark.parametrize("name", ["num_cpus", "num_gpus", "memory"])
def test_negative_resource_raises_value_error_when_decorating(ray, name):
    with pytest.raises(ValueError, match=rf"^The quantity of resource {name} cannot be negative"):
        _define(ray, **{name: -1})


def test_misspelt_option_raises_value_error_listing_the_valid_ones(ray):
    with pytest.raises(
        ValueError,
        match=r"^Invalid option keyword num_cpu for remote functions\. Valid ones are \[.*'num_cpus'.*\]",
    ):
        _define(ray, num_cpu=1)


def test_option_of_the_wrong_type_raises_type_error(ray):
    with pytest.raises(
        TypeError, match=r"^The type of keyword 'num_cpus' must be .*, but received type <class 'str'>"
    ):
        _define(ray, num_cpus="a")


def test_bad_options_in_options_call_raise_the_same_errors(ray):
    f = _define(ray)

    with pytest.raises(ValueError, match=r"^Invalid option keyword foo for remote functions"):
        f.options(foo=1)
    with pytest.raises(ValueError, match=r"num_returns"):
        f.options(num_returns=-1)
    with pytest.raises(TypeError, match=r"^The type of keyword 'max_retries' must be"):
        f.options(max_retries="3")
    assert ray.get(f.remote()) == 1


def test_bad_resources_are_rejected(ray):
    with pytest.raises(ValueError, match=r"Use the 'num_cpus' and 'num_gpus' keyword instead of 'resources'"):
        _define(ray, resources={"CPU": 1})
    with pytest.raises(ValueError, match=r"^The quantity of resource special cannot be negative"):
        _define(ray, resources={"special": -1})


def test_custom_resource_runs_the_task_on_the_worker_that_has_it(ray):
    @ray.remote(resources={"special": 1})
    def where():
        return os.getpid()

    pids = set(ray.get([where.remote() for _ in range(4)]))

    assert len(pids) == 1


def test_num_cpus_above_one_still_runs_on_the_embedded_cluster(ray):
    @ray.remote(num_cpus=2)
    def big():
        return "ran"

    assert ray.get(big.remote(), timeout=60) == "ran"


def test_options_do_not_change_the_original_function(ray):
    @ray.remote(num_returns=2)
    def pair():
        return 1, 2

    single = pair.options(num_returns=1)

    assert ray.get(single.remote()) == (1, 2)
    assert ray.get(pair.remote()) == [1, 2]


def test_runtime_env_env_vars_apply_to_the_task(ray):
    @ray.remote(runtime_env={"env_vars": {"RAYCOMPAT_TEST_VAR": "task-value"}})
    def read():
        return os.environ.get("RAYCOMPAT_TEST_VAR")

    assert ray.get(read.remote()) == "task-value"


def test_runtime_env_env_vars_do_not_leak_into_later_tasks(ray):
    @ray.remote(runtime_env={"env_vars": {"RAYCOMPAT_LEAK_VAR": "set"}})
    def with_env():
        return os.environ.get("RAYCOMPAT_LEAK_VAR")

    @ray.remote
    def without_env():
        return os.environ.get("RAYCOMPAT_LEAK_VAR")

    assert ray.get([with_env.remote() for _ in range(2)]) == ["set", "set"]
    assert ray.get([without_env.remote() for _ in range(4)]) == [None] * 4


def test_runtime_env_env_vars_must_be_strings(ray):
    with pytest.raises(TypeError, match=r"runtime_env\['env_vars'\] must map str to str"):
        _define(ray, runtime_env={"env_vars": {"A": 1}}).remote()


def test_max_retries_with_retry_exceptions_retries_a_failing_task(ray, tmp_path):
    attempts = tmp_path / "attempts"

    @ray.remote(max_retries=2, retry_exceptions=True)
    def flaky(path):
        with open(path, "a") as f:
            f.write("x")
        if len(open(path).read()) < 3:
            raise RuntimeError("not yet")
        return "ok"

    assert ray.get(flaky.remote(str(attempts))) == "ok"
    assert attempts.read_text() == "xxx"


def test_application_errors_are_not_retried_by_default(ray, tmp_path):
    attempts = tmp_path / "attempts"

    @ray.remote
    def fails(path):
        with open(path, "a") as f:
            f.write("x")
        raise RuntimeError("always")

    with pytest.raises(RuntimeError, match=r"always"):
        ray.get(fails.remote(str(attempts)))
    assert attempts.read_text() == "x"
