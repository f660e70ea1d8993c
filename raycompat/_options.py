"""Ray's options for tasks and actors: which exist, which values are valid, and what we ignore.

Checks follow Ray's ``ray_option_utils``: an unknown keyword raises ValueError, a value of the
wrong type raises TypeError, a value out of range raises ValueError, with Ray's wording. Options
that raycompat accepts but cannot honour are reported here, in one place (``unsupported``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

from . import _strategies as strategies
from ._dask.placement import PlacementGroup, check_placement_group_index

_NUMBER = (int, float)


def _non_negative(name: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is not None and value < 0:
            return f"The quantity of resource {name} cannot be negative (got {value!r}). Pass 0 or more."
        return None

    return check


def _resources(value: Any) -> str | None:
    if value is None:
        return None
    for name, quantity in value.items():
        if name in ("CPU", "GPU"):
            return (
                f"Use the 'num_cpus' and 'num_gpus' keyword instead of 'resources' to specify "
                f"{name} resources, e.g. num_cpus=1 instead of resources={{'{name}': 1}}."
            )
        if not isinstance(quantity, _NUMBER) or isinstance(quantity, bool):
            return f"The quantity of resource {name!r} must be a number, got {quantity!r}."
        if quantity < 0:
            return f"The quantity of resource {name} cannot be negative, got {quantity!r}."
    return None


def _num_returns(value: Any) -> str | None:
    if value is None or value in ("dynamic", "streaming"):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"The keyword 'num_returns' only accepts None, a non-negative integer, 'streaming' or 'dynamic', got {value!r}."
    return None


def _max_retries(value: Any) -> str | None:
    if value is not None and value < -1:
        return f"The keyword 'max_retries' only accepts -1 (retry forever), 0 or a positive integer, got {value!r}."
    return None


def _retry_exceptions(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (list, tuple)) and all(isinstance(t, type) and issubclass(t, BaseException) for t in value):
        return None
    return f"The keyword 'retry_exceptions' only accepts a bool or a list of exception types, got {value!r}."


def _lifetime(value: Any) -> str | None:
    if value in (None, "detached", "non_detached"):
        return None
    return f"actor `lifetime` argument must be one of 'detached', 'non_detached' and 'None', got {value!r}."


def _concurrency(value: Any) -> str | None:
    if value is not None and value < 1:
        return f"max_concurrency must be >= 1, got {value!r}."
    return None


def _scheduling_strategy(value: Any) -> str | None:
    if value in ("DEFAULT", "SPREAD"):
        return None
    if isinstance(value, strategies.PlacementGroupSchedulingStrategy):
        return _placement_group(value.placement_group, value.placement_group_bundle_index)
    if isinstance(value, strategies.NodeAffinitySchedulingStrategy):
        return None
    if isinstance(value, strategies.NodeLabelSchedulingStrategy):
        return (
            "NodeLabelSchedulingStrategy is not supported by raycompat: Dask workers have no node "
            "labels. Use NodeAffinitySchedulingStrategy(node_id, soft) or Dask worker resources."
        )
    return (
        f"Invalid scheduling_strategy {value!r}. Use 'DEFAULT', 'SPREAD', "
        "NodeAffinitySchedulingStrategy(node_id, soft) or PlacementGroupSchedulingStrategy(pg)."
    )


def _placement_group(value: Any, bundle_index: int = -1) -> str | None:
    if value == "default":
        return None
    if not isinstance(value, PlacementGroup):
        return f"placement_group must be a PlacementGroup from ray.util.placement_group(), got {value!r}."
    try:
        check_placement_group_index(value, bundle_index)
    except ValueError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Option:
    types: tuple[type, ...] | type | None = None
    check: Callable[[Any], str | None] | None = None
    supported: bool = True  # False: accepted for compatibility, without effect here


_COMMON: dict[str, Option] = {
    "num_cpus": Option(_NUMBER, _non_negative("num_cpus")),
    "num_gpus": Option(_NUMBER, _non_negative("num_gpus")),
    "resources": Option(dict, _resources),
    "memory": Option(_NUMBER, _non_negative("memory")),
    "object_store_memory": Option(_NUMBER, _non_negative("object_store_memory"), supported=False),
    "accelerator_type": Option(str, supported=False),
    "runtime_env": Option(dict),
    # Mapped to Dask worker restrictions; see raycompat/util/scheduling_strategies.py.
    "scheduling_strategy": Option(None, lambda v: _scheduling_strategy(v)),
    "placement_group": Option(None, lambda v: _placement_group(v)),
    "placement_group_bundle_index": Option(int),
    "placement_group_capture_child_tasks": Option(bool, supported=False),
    "label_selector": Option(dict, supported=False),
    "fallback_strategy": Option(list, supported=False),
    "enable_task_events": Option(bool),
    "_metadata": Option(dict),
    "_labels": Option(dict),
}

TASK_OPTIONS: dict[str, Option] = {
    **_COMMON,
    "num_returns": Option((int, str), _num_returns),
    "max_calls": Option(int, _non_negative("max_calls"), supported=False),
    "max_retries": Option(int, _max_retries),
    "retry_exceptions": Option(None, _retry_exceptions),
    "name": Option(str),
    "_generator_backpressure_num_objects": Option(int, supported=False),
}

ACTOR_OPTIONS: dict[str, Option] = {
    **_COMMON,
    "max_restarts": Option(int, _max_retries),
    "max_task_retries": Option(int, _max_retries),
    "max_pending_calls": Option(int, supported=False),
    "max_concurrency": Option(int, _concurrency),
    "name": Option(str),
    "namespace": Option(str),
    "lifetime": Option(None, _lifetime),
    "get_if_exists": Option(bool),
    "concurrency_groups": Option((dict, list), supported=False),
    "allow_out_of_order_execution": Option(bool, supported=False),
    "_default_concurrency_group": Option(str, supported=False),
}

METHOD_OPTIONS: dict[str, Option] = {
    "num_returns": Option((int, str), _num_returns),
    "concurrency_group": Option(str, supported=False),
    "max_task_retries": Option(int, _max_retries),
    "retry_exceptions": Option(None, _retry_exceptions),
    "name": Option(str),
    "enable_task_events": Option(bool),
    "_metadata": Option(dict),
    "tensor_transport": Option(str, supported=False),
}

TASK_DEFAULTS: dict[str, Any] = {
    "num_returns": None,  # 1, or "streaming" for a generator function (as in Ray 2.60)
    "num_cpus": 1,
    "num_gpus": 0,
    "resources": None,
    "memory": 0,
    "max_retries": 3,
    "retry_exceptions": False,
    "runtime_env": None,
    "name": None,
}

ACTOR_DEFAULTS: dict[str, Any] = {
    "num_cpus": None,
    "num_gpus": 0,
    "resources": None,
    "memory": 0,
    "max_restarts": 0,
    "max_task_retries": 0,
    "max_concurrency": None,
    "name": None,
    "namespace": None,
    "lifetime": None,
    "get_if_exists": False,
    "runtime_env": None,
}

_warned: set[str] = set()


def validate(options: dict[str, Any], table: dict[str, Option], what: str) -> dict[str, Any]:
    """Check ``options`` against ``table`` as Ray does; return them unchanged."""
    for keyword, value in options.items():
        option = table.get(keyword)
        if option is None:
            raise ValueError(
                f"Invalid option keyword {keyword} for {what}. Valid ones are {sorted(table)}."
            )
        if value is None:
            continue
        if option.types is not None and (
            not isinstance(value, option.types) or (isinstance(value, bool) and bool not in _as_tuple(option.types))
        ):
            raise TypeError(
                f"The type of keyword '{keyword}' must be {option.types}, but received type {type(value)}"
            )
        if option.check is not None:
            message = option.check(value)
            if message:
                raise ValueError(message)
        if not option.supported:
            unsupported(keyword, what)
    return options


def _as_tuple(types: tuple[type, ...] | type) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def unsupported(keyword: str, what: str) -> None:
    """Warn once that an accepted option has no effect on Dask."""
    if keyword in _warned:
        return
    _warned.add(keyword)
    warnings.warn(
        f"The option {keyword!r} of {what} is accepted but has no effect on Dask; "
        "see docs/compatibility.md for the supported options.",
        UserWarning,
        stacklevel=4,
    )


def retry_exception_types(value: Any) -> bool | tuple[type[BaseException], ...]:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return bool(value)


# runtime_env fields: applied (working_dir, py_modules and pip ship through _dask/runtime_env.py),
# and those that need a separate Python environment per task.
_RUNTIME_ENV_APPLIED = ("env_vars", "working_dir", "py_modules", "pip", "excludes", "config")
_RUNTIME_ENV_IMPOSSIBLE = ("conda", "container", "image_uri", "uv", "java_jars")


def env_vars(runtime_env: dict[str, Any] | None) -> dict[str, str]:
    """The ``env_vars`` of a runtime_env; other runtime_env fields are not applied yet."""
    if not runtime_env:
        return {}
    if not isinstance(runtime_env, dict):
        raise TypeError(f"runtime_env must be a dict, got {type(runtime_env)}.")
    for field in runtime_env:
        if field in _RUNTIME_ENV_IMPOSSIBLE:
            raise NotImplementedError(
                f"runtime_env[{field!r}] is not supported by raycompat: Dask workers run in one Python "
                "environment. Build the environment into the workers, or use runtime_env['pip']."
            )
        if field not in _RUNTIME_ENV_APPLIED:
            unsupported(f"runtime_env[{field!r}]", "runtime_env")
    pip = runtime_env.get("pip")
    if pip is not None and not (
        isinstance(pip, str)
        or (isinstance(pip, list) and all(isinstance(p, str) for p in pip))
        or (isinstance(pip, dict) and isinstance(pip.get("packages"), (list, str)))
    ):
        raise TypeError(
            f"runtime_env['pip'] must be a list of requirements, a requirements file or "
            f"{{'packages': [...]}}, got {pip!r}."
        )
    if not isinstance(runtime_env.get("py_modules") or [], list):
        raise TypeError("runtime_env['py_modules'] must be a list of directories, files or modules.")
    env = runtime_env.get("env_vars") or {}
    bad = {k: v for k, v in env.items() if not isinstance(k, str) or not isinstance(v, str)}
    if bad:
        raise TypeError(f"runtime_env['env_vars'] must map str to str; these do not: {bad!r}.")
    return dict(env)
