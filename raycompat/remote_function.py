"""RemoteFunction: what ``@ray.remote`` makes of a function (``ray.remote_function``)."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Generic, TypeVar

from . import _options, _session
from ._dask import packing, placement, runtime_env, task_context, tasks
from ._dask.protocol import GeneratorSpec, TaskSpec
from ._dask.streams import ObjectRefGenerator
from ._signatures import check_signature, signature_of

R = TypeVar("R")


def _qualified(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '__main__')}.{getattr(fn, '__qualname__', getattr(fn, '__name__', 'f'))}"


def _is_generator_function(fn: Any) -> bool:
    return inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)


class RemoteFunction(Generic[R]):
    """A function that runs as a task on the cluster: call it with ``.remote()``."""

    def __init__(self, function: Callable[..., R], options: dict[str, Any]) -> None:
        _options.validate(options, _options.TASK_OPTIONS, "remote functions")
        self._function = function
        self._default_options = options
        self._signature = signature_of(function)
        self._blob: tuple[str, bytes] | None = None
        functools.update_wrapper(self, function, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = _qualified(self._function)
        raise TypeError(
            "Remote functions cannot be called directly. Instead of running "
            f"'{name}()', try '{name}.remote()'."
        )

    def __repr__(self) -> str:
        return f"<RemoteFunction {_qualified(self._function)}>"

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Submit the task now and return its ObjectRef (a list of them if ``num_returns`` > 1)."""
        return self._remote(args, kwargs, self._default_options)

    def options(self, **options: Any) -> _RemoteFunctionWithOptions[R]:
        """Return a copy of this function with some options changed, for the next ``.remote()``.

        Example: ``f.options(num_cpus=2, name="big").remote(x)``.
        """
        _options.validate(options, _options.TASK_OPTIONS, "remote functions")
        return _RemoteFunctionWithOptions(self, {**self._default_options, **options})

    def bind(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "Ray DAGs (.bind()) are not supported by raycompat. Call .remote() instead."
        )

    def _remote(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> Any:
        check_signature(self._signature, args, kwargs)
        opts = {**_options.TASK_DEFAULTS, **options}
        backend = _session.current()
        if self._blob is None:
            self._blob = packing.function_blob(self._function)
        fn_id, fn_blob = self._blob
        name = opts["name"] or self._function.__name__
        args_blob, deps, nested = packing.pack_args(backend, _qualified(self._function), args, kwargs)
        num_returns = opts["num_returns"]
        if num_returns is None:  # Ray's default: 'streaming' for generator functions, else 1
            num_returns = "streaming" if _is_generator_function(self._function) else 1
        generator = None
        if num_returns in ("dynamic", "streaming"):
            generator = GeneratorSpec(mode=num_returns, client=backend.client.id)
        spec = TaskSpec(
            name=name,
            fn_id=fn_id,
            fn_blob=fn_blob,
            args_blob=args_blob,
            job_id=backend.job_id,
            num_returns=1 if generator is not None else num_returns,
            max_retries=opts["max_retries"],
            retry_exceptions=_options.retry_exception_types(opts["retry_exceptions"]),
            env_vars={**backend.env_vars, **_options.env_vars(opts["runtime_env"])},
            # A nested task prints to the driver if the task that submits it does.
            log_to_driver=task_context.current().log_to_driver if backend.in_worker else backend.log_to_driver,
            namespace=backend.namespace,
            generator=generator,
        )
        resources = tasks.task_resources(
            backend, opts["num_cpus"], opts["num_gpus"], opts["resources"] or {}, opts["memory"]
        )
        runtime_env.apply(backend, opts["runtime_env"])  # working_dir, py_modules, pip
        workers, allow_other_workers, wait_for = placement.task_placement(
            backend, opts.get("scheduling_strategy"), opts.get("placement_group"), opts.get("placement_group_bundle_index")
        )
        if wait_for is not None:  # its placement group is not reserved yet: wait for it
            deps = [*deps, wait_for]
        refs = tasks.submit_task(
            backend,
            spec,
            deps,
            nested,
            resources=resources,
            workers=workers,
            allow_other_workers=allow_other_workers,
            num_returns=1 if generator is not None else max(num_returns, 1),
        )
        if generator is not None:
            return refs[0] if generator.mode == "dynamic" else ObjectRefGenerator(refs[0])
        if num_returns == 0:
            return None
        return refs[0] if num_returns == 1 else refs


class _RemoteFunctionWithOptions(Generic[R]):
    """The result of ``.options()``: call ``.remote()`` on it."""

    def __init__(self, function: RemoteFunction[R], options: dict[str, Any]) -> None:
        self._function = function
        self._options = options

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return self._function._remote(args, kwargs, self._options)

    def options(self, **options: Any) -> _RemoteFunctionWithOptions[R]:
        _options.validate(options, _options.TASK_OPTIONS, "remote functions")
        return _RemoteFunctionWithOptions(self._function, {**self._options, **options})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(*args, **kwargs)

