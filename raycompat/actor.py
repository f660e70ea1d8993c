"""Actors: ActorClass, ActorHandle, ActorMethod, method, get_actor, kill, exit_actor (``ray.actor``).

Each actor runs in a process of its own, as in Ray. Calls made through one handle start in
the order they were made; their results are ObjectRefs like any task's.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, TypeVar

from . import _options, _session
from ._dask import actor_client, task_context, tasks
from ._dask.protocol import READY, TERMINATE, ActorExit
from ._signatures import check_signature, signature_of

T = TypeVar("T")

_METHOD_OPTIONS_ATTR = "__ray_method_options__"


def method(*args: Any, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Set options of an actor method, as ``@ray.method(num_returns=2)``.

    Raises:
        ValueError: For an unknown option, or if used without keyword arguments.
    """
    if len(args) == 1 and callable(args[0]) and not options:  # bare @ray.method: no options
        return args[0]  # type: ignore[no-any-return]
    if args:
        raise ValueError(
            "The @ray.method decorator must be applied using keyword arguments, for example "
            "'@ray.method(num_returns=2)'."
        )
    _options.validate(options, _options.METHOD_OPTIONS, "actor methods")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, _METHOD_OPTIONS_ATTR, dict(options))
        return fn

    return decorate


def _method_table(cls: type) -> dict[str, dict[str, Any]]:
    """The callable methods of ``cls`` with their ``@ray.method`` options."""
    table: dict[str, dict[str, Any]] = {}
    for name, member in inspect.getmembers(cls):
        if not callable(member) or (name.startswith("__") and name != "__call__"):
            continue
        if inspect.isclass(member):
            continue
        options = dict(getattr(member, _METHOD_OPTIONS_ATTR, {}))
        if inspect.isgeneratorfunction(member) or inspect.isasyncgenfunction(member):
            options.setdefault("num_returns", "streaming")  # as Ray 2.60 does for generators
        table[name] = options
    table[TERMINATE] = {}
    table[READY] = {}
    return table


_NO_ARGUMENTS = inspect.Signature()  # a class without __init__, as object() takes no arguments


def _call_signature(cls: type, name: str) -> inspect.Signature | None:
    """The arguments a caller passes to method ``name``: without ``self`` (or ``cls``)."""
    signature = signature_of(getattr(cls, name, None))
    if signature is None or isinstance(inspect.getattr_static(cls, name, None), (staticmethod, classmethod)):
        return signature  # no self; a classmethod taken from the class is already bound
    return signature.replace(parameters=list(signature.parameters.values())[1:])


class ActorClass(Generic[T]):
    """What ``@ray.remote`` makes of a class: create actors with ``.remote()``."""

    def __init__(self, cls: type[T], options: dict[str, Any]) -> None:
        _options.validate(options, _options.ACTOR_OPTIONS, "actors")
        self._cls = cls
        self._default_options = options
        self._methods = _method_table(cls)
        self._signatures = {name: _call_signature(cls, name) for name in self._methods}
        self._init_signature = _call_signature(cls, "__init__") if cls.__init__ is not object.__init__ else _NO_ARGUMENTS
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__module__ = cls.__module__
        self.__doc__ = cls.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"Actors cannot be instantiated directly. Instead of '{self._cls.__name__}()', use "
            f"'{self._cls.__name__}.remote()'."
        )

    def __repr__(self) -> str:
        return f"<ActorClass {self._cls.__module__}.{self._cls.__qualname__}>"

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle[T]:
        """Create the actor and return its handle at once; ``__init__`` runs in the background."""
        return self._remote(args, kwargs, self._default_options)

    def options(self, **options: Any) -> _ActorClassWithOptions[T]:
        """Return a copy with some options changed (``name``, ``max_concurrency``, ...)."""
        _options.validate(options, _options.ACTOR_OPTIONS, "actors")
        return _ActorClassWithOptions(self, {**self._default_options, **options})

    def bind(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Ray DAGs (.bind()) are not supported by raycompat. Call .remote() instead.")

    def _remote(self, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any]) -> ActorHandle[T]:
        if self._init_signature is not None:
            check_signature(self._init_signature, args, kwargs)
        opts = {**_options.ACTOR_DEFAULTS, **options}
        backend = _session.current()
        name = opts["name"]
        if name is not None and not name:
            raise ValueError("Actor name cannot be an empty string. Pass a non-empty name, or none.")
        if opts["get_if_exists"] and name is None:
            raise ValueError(
                "The actor name must be specified to use `get_if_exists` if you want to get the "
                "actor by name. Pass name=... as well."
            )
        if opts["namespace"] == "":
            raise ValueError('"" is not a valid namespace. Pass a non-empty namespace, or none.')
        namespace = opts["namespace"] or backend.namespace
        resources = None
        if opts["num_gpus"] or opts["resources"] or opts["memory"]:
            resources = tasks.task_resources(backend, 0, opts["num_gpus"], opts["resources"] or {}, opts["memory"])
        entry = actor_client.create_actor(
            backend,
            cls=self._cls,
            class_name=self._cls.__name__,
            args=args,
            kwargs=kwargs,
            name=name,
            namespace=namespace,
            detached=opts["lifetime"] == "detached",
            get_if_exists=bool(opts["get_if_exists"]),
            max_restarts=opts["max_restarts"],
            max_concurrency=opts["max_concurrency"],
            env_vars={**backend.env_vars, **_options.env_vars(opts["runtime_env"])},
            resources=resources,
            meta={"methods": self._methods, "max_task_retries": opts["max_task_retries"]},
        )
        handle = ActorHandle._from_entry(entry)
        handle._signatures = self._signatures
        if entry["state"] == "pending" and opts["lifetime"] != "detached":
            _owned.add(handle)  # created here: it ends when the last handle here is gone
        return handle


class _ActorClassWithOptions(Generic[T]):
    def __init__(self, actor_class: ActorClass[T], options: dict[str, Any]) -> None:
        self._actor_class = actor_class
        self._options = options

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle[T]:
        return self._actor_class._remote(args, kwargs, self._options)

    def options(self, **options: Any) -> _ActorClassWithOptions[T]:
        _options.validate(options, _options.ACTOR_OPTIONS, "actors")
        return _ActorClassWithOptions(self._actor_class, {**self._options, **options})


class ActorID(str):
    """An actor's id: a string of hex digits, with Ray's ``hex()``."""

    def hex(self) -> str:
        return str(self)


class ActorHandle(Generic[T]):
    """A handle to an actor: call its methods with ``handle.method.remote(...)``.

    Handles pickle: pass them to tasks and other actors, or return them from tasks.
    """

    def __init__(self, actor_id: str, class_name: str, meta: dict[str, Any]) -> None:
        self._actor_id = ActorID(actor_id)
        self._class_name = class_name
        self._meta = meta
        # Method signatures, to check arguments at .remote(): known where the class is.
        self._signatures: dict[str, Any] = {}
        self._owned = False

    @classmethod
    def _from_entry(cls, entry: dict[str, Any]) -> ActorHandle[Any]:
        return cls(entry["actor_id"], entry["class_name"], entry["meta"])

    def __getattr__(self, name: str) -> ActorMethod:
        methods = self.__dict__.get("_meta", {}).get("methods", {})
        if name not in methods:
            raise AttributeError(f"'ActorHandle' object has no attribute '{name}'")
        return ActorMethod(self, name, methods[name])

    def __reduce__(self) -> Any:
        _owned.escaped(self._actor_id)  # a copy lives elsewhere: no longer ours alone to end
        return ActorHandle, (self._actor_id, self._class_name, self._meta)

    def __del__(self) -> None:
        try:
            _owned.discard(self)
        except Exception:  # interpreter shutdown: the session ends the actor anyway
            pass

    def __repr__(self) -> str:
        return f"Actor({self._class_name}, {self._actor_id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorHandle) and other._actor_id == self._actor_id

    def __hash__(self) -> int:
        return hash(("ActorHandle", self._actor_id))

    def _channel(self) -> actor_client.Channel:
        backend = _session.current()
        return actor_client.channel(backend, self._actor_id, self._class_name, self._meta.get("max_task_retries", 0))


class ActorMethod:
    """One method of an actor handle: call it with ``.remote()``."""

    def __init__(self, handle: ActorHandle[Any], name: str, options: dict[str, Any]) -> None:
        self._handle = handle
        self._name = name
        self._options = options

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "Actor methods cannot be called directly. Instead of running "
            f"'object.{self._name}()', try 'object.{self._name}.remote()'."
        )

    def options(self, **options: Any) -> ActorMethod:
        """Return this method with some options changed, such as ``num_returns``."""
        _options.validate(options, _options.METHOD_OPTIONS, "actor methods")
        return ActorMethod(self._handle, self._name, {**self._options, **options})

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Send the call; return its ObjectRef (a list if ``num_returns`` > 1) at once."""
        signature = self._handle._signatures.get(self._name)
        if signature is not None:
            check_signature(signature, args, kwargs)
        num_returns = self._options.get("num_returns", 1)
        if num_returns is None:
            num_returns = 1
        if not isinstance(num_returns, int):
            raise NotImplementedError(
                f"Generator actor methods (num_returns={num_returns!r}) are not supported by "
                f"raycompat yet. Make {self._handle._class_name}.{self._name} return a list, or "
                "use a generator task instead."
            )
        refs = self._handle._channel().call(
            self._name,
            args,
            kwargs,
            num_returns,
            max_task_retries=self._options.get("max_task_retries"),
            retry_exceptions=_options.retry_exception_types(self._options.get("retry_exceptions", False)),
        )
        if num_returns == 0:
            return None
        return refs[0] if num_returns == 1 else refs

    def __repr__(self) -> str:
        return f"<ActorMethod {self._handle._class_name}.{self._name}>"


class _OwnedActors:
    """Counts the handles of the actors created in this process.

    Ray ends a non-detached actor when its last handle is gone. Here the creator's handles are
    counted; when the last one is dropped and no copy was ever sent elsewhere (pickled) or
    looked up by name, the actor gets ``__ray_release__``: it ends after the calls already sent.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._escaped: set[str] = set()

    def add(self, handle: ActorHandle[Any]) -> None:
        handle._owned = True
        self._counts[handle._actor_id] = self._counts.get(handle._actor_id, 0) + 1

    def escaped(self, actor_id: str) -> None:
        if actor_id in self._counts:
            self._escaped.add(actor_id)

    def discard(self, handle: ActorHandle[Any]) -> None:
        actor_id = handle.__dict__.get("_actor_id")
        if not handle.__dict__.get("_owned") or actor_id not in self._counts:
            return
        self._counts[actor_id] -= 1
        if self._counts[actor_id] > 0:
            return
        del self._counts[actor_id]
        if actor_id in self._escaped:
            self._escaped.discard(actor_id)
            return
        backend = _session.current_or_none()
        if backend is not None:
            actor_client.release_actor(backend, actor_id, handle._class_name)


_owned = _OwnedActors()


def exit_actor() -> None:
    """End the current actor from inside one of its methods; it is not restarted.

    The call that runs it raises ActorDiedError in its caller, as do the later calls.

    Raises:
        TypeError: Outside an actor.
    """
    if task_context.current().actor is None:
        raise TypeError(
            "exit_actor API is called on a non-actor worker. Call it inside an actor method, or "
            "use ray.kill(handle) from outside."
        )
    raise ActorExit()


def get_actor(name: str, namespace: str | None = None) -> ActorHandle[Any]:
    """Return the handle of the named actor ``name``.

    Raises:
        ValueError: If there is no live actor of that name in the namespace.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("Please supply a non-empty value to get_actor")
    backend = _session.current()
    entry = actor_client.named_actor(backend, name, namespace or backend.namespace)
    if entry is None:
        raise ValueError(
            f"Failed to look up actor with name '{name}'. This could because 1. You are trying to "
            "look up a named actor you didn't create. 2. The named actor died. 3. You did not use "
            "a namespace matching the namespace of the actor."
        )
    return ActorHandle._from_entry(entry)


def kill(actor: ActorHandle[Any], *, no_restart: bool = True) -> None:
    """Kill the actor at once; calls in flight and later calls raise ActorDiedError.

    Args:
        actor: The handle of the actor.
        no_restart: If False, an actor with ``max_restarts`` left is restarted.

    Raises:
        ValueError: If ``actor`` is not an ActorHandle.
    """
    if not isinstance(actor, ActorHandle):
        raise ValueError(
            f"ray.kill() only supported for actors. For tasks, try ray.cancel(). Got: {type(actor)}."
        )
    actor_client.kill_actor(_session.current(), actor._actor_id, no_restart)


def list_named_actors(all_namespaces: bool = False) -> list[Any]:
    """Names of the live named actors in this namespace (or dicts with namespaces for all)."""
    backend = _session.current()
    entries = actor_client.named_actors(backend, all_namespaces)
    if all_namespaces:
        return [dict(e) for e in entries]
    return [e["name"] for e in entries]
