"""The ``@remote`` decorator: a function becomes a RemoteFunction, a class an ActorClass."""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar, overload

from . import _options
from .actor import ActorClass
from .remote_function import RemoteFunction

T = TypeVar("T")
R = TypeVar("R")


def _make(target: Any, options: dict[str, Any]) -> Any:
    if inspect.isclass(target):
        return ActorClass(target, options)
    if callable(target):
        return RemoteFunction(target, options)
    raise TypeError(
        f"The @ray.remote decorator must be applied to a function or a class, not {target!r}."
    )


@overload
def remote(target: type[T]) -> Any: ...


@overload
def remote(target: Callable[..., R]) -> RemoteFunction[R]: ...


@overload
def remote(**options: Any) -> Callable[[Any], Any]: ...


def remote(*args: Any, **options: Any) -> Any:
    """Turn a function into a task (``f.remote()``) or a class into an actor (``Cls.remote()``).

    Use it bare, ``@ray.remote``, or with options, ``@ray.remote(num_cpus=2, num_returns=2)``.

    Raises:
        ValueError: For an unknown option, or an invalid value.
        TypeError: For an option value of the wrong type.
    """
    if len(args) == 1 and not options and callable(args[0]):
        return _make(args[0], {})
    if args:
        raise AssertionError(
            "The @ray.remote decorator must be applied either with no arguments and no "
            "parentheses, for example '@ray.remote', or it must be applied using some of the "
            f"arguments in the list {sorted(_options.TASK_OPTIONS)}, for example "
            "'@ray.remote(num_returns=2, resources={\"CustomResource\": 1})'."
        )
    # Options are checked when the decorator is applied to its target, as Ray does.
    def decorator(target: Any) -> Any:
        return _make(target, dict(options))

    return decorator
