"""Exceptions: task errors as RayTaskError (also the user's class), the tree, and pickling."""

from __future__ import annotations

import inspect
import pickle

import cloudpickle
import distributed
import pytest

import raycompat
from raycompat import exceptions


def make_user_errors():
    """User exception classes, defined in a function so that workers get them by value."""

    class CodedError(Exception):
        def __init__(self, message, code=0):
            super().__init__(message)
            self.code = code

    class NeedsTwoArgs(Exception):  # pickle cannot rebuild it from its args
        def __init__(self, a, b):
            super().__init__(f"{a} and {b}")

    return CodedError, NeedsTwoArgs


CodedError, NeedsTwoArgs = make_user_errors()


def test_task_error_is_a_ray_task_error_and_an_instance_of_the_cause(ray):
    @ray.remote
    def boom():
        raise ValueError("boom")

    with pytest.raises(ValueError, match=r"boom") as info:
        ray.get(boom.remote())
    err = info.value

    assert isinstance(err, ray.exceptions.RayTaskError)
    assert isinstance(err, ray.exceptions.RayError)
    assert type(err).__name__ == "RayTaskError(ValueError)"
    assert type(err).__mro__[1:4] == (exceptions.RayTaskError, exceptions.RayError, ValueError)
    assert type(err.cause) is ValueError and err.cause.args == ("boom",)


def test_task_error_message_shows_the_function_and_the_remote_traceback(ray):
    @ray.remote
    def explode(x):
        return {}[x]

    with pytest.raises(KeyError) as info:
        ray.get(explode.remote("missing"))
    text = str(info.value)

    assert text.startswith("ray::explode() (pid=")
    assert 'in explode\n' in text and "return {}[x]" in text
    assert "Traceback (most recent call last)" not in text  # as in Ray: the user's frames only
    assert "_dask" not in text
    assert text.rstrip().endswith("KeyError: 'missing'")
    assert isinstance(info.value, LookupError)


def test_task_error_keeps_the_attributes_of_the_users_exception(ray):
    @ray.remote
    def coded():
        raise CodedError("custom", code=7)

    with pytest.raises(CodedError, match=r"custom") as info:
        ray.get(coded.remote())

    assert info.value.code == 7
    assert info.value.cause.code == 7


def test_task_error_whose_cause_cannot_be_rebuilt_is_still_a_ray_task_error(ray):
    @ray.remote
    def odd():
        raise NeedsTwoArgs("x", "y")

    with pytest.raises(ray.exceptions.RayTaskError, match=r"NeedsTwoArgs: x and y"):
        ray.get(odd.remote())


def test_task_whose_argument_failed_reraises_that_error(ray):
    @ray.remote
    def boom():
        raise ValueError("upstream failed")

    @ray.remote
    def take(x):
        return x

    with pytest.raises(ValueError, match=r"upstream failed") as info:
        ray.get(take.remote(boom.remote()))

    assert isinstance(info.value, ray.exceptions.RayTaskError)
    assert "ray::boom()" in str(info.value)


def test_get_raises_the_first_error_in_the_order_of_the_refs(ray):
    @ray.remote
    def fail(message):
        raise RuntimeError(message)

    @ray.remote
    def ok():
        return 1

    refs = [ok.remote(), fail.remote("first"), fail.remote("second")]
    ray.wait(refs, num_returns=3, timeout=60)

    with pytest.raises(RuntimeError, match=r"first"):
        ray.get(refs)


def test_get_raises_a_task_error_without_waiting_for_the_other_refs(ray, make_event):
    release = make_event()

    @ray.remote
    def blocked(name):
        distributed.Event(name).wait(60)

    @ray.remote
    def fail():
        raise RuntimeError("failed early")

    with pytest.raises(RuntimeError, match=r"failed early"):  # as Ray does
        ray.get([blocked.remote(release.name), fail.remote()], timeout=60)
    release.set()


def test_caught_task_error_pickles_with_its_class_and_cause(ray):
    @ray.remote
    def boom():
        raise CodedError("pickled", code=3)

    with pytest.raises(CodedError) as info:
        ray.get(boom.remote())
    copy = pickle.loads(cloudpickle.dumps(info.value))  # cloudpickle: the class is local

    assert isinstance(copy, CodedError) and isinstance(copy, ray.exceptions.RayTaskError)
    assert copy.code == 3 and str(copy) == str(info.value)


def test_session_still_works_after_a_task_error(ray):
    @ray.remote
    def fail():
        raise ZeroDivisionError("division by zero")

    @ray.remote
    def ok(x):
        return x

    with pytest.raises(ZeroDivisionError):
        ray.get(fail.remote())
    assert ray.get(ok.remote(1)) == 1


def test_get_timeout_error_is_also_a_builtin_timeout_error():
    assert issubclass(exceptions.GetTimeoutError, exceptions.RayError)
    assert issubclass(exceptions.GetTimeoutError, TimeoutError)
    assert issubclass(exceptions.ActorAlreadyExistsError, ValueError)
    assert issubclass(exceptions.ActorDiedError, exceptions.RayActorError)


def _exception_classes():
    return [
        obj
        for name, obj in vars(exceptions).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == exceptions.__name__
        and not name.startswith("_")
    ]


def test_every_exception_class_is_listed_and_derives_from_ray_error():
    classes = _exception_classes()

    assert sorted(c.__name__ for c in classes) == sorted(exceptions.__all__)
    assert all(issubclass(c, exceptions.RayError) for c in classes)


def _instance(cls):
    if issubclass(cls, exceptions.RayTaskError):
        return cls("fn", "Traceback text\nValueError: bad", ValueError("bad"), pid=1, ip="127.0.0.1")
    try:
        return cls("a message")
    except TypeError:
        return cls()


@pytest.mark.parametrize("cls", _exception_classes(), ids=lambda c: c.__name__)
def test_every_exception_pickles(cls):
    err = _instance(cls)

    copy = pickle.loads(pickle.dumps(err))

    assert isinstance(copy, cls)
    assert str(copy) == str(err)
    assert copy.args == err.args or isinstance(err, exceptions.RayTaskError)


def test_exceptions_module_is_the_same_under_both_names():
    assert raycompat.exceptions is exceptions


def test_object_lost_error_takes_rays_arguments_and_ray_cloudpickle_is_cloudpickle():
    import cloudpickle

    import raycompat.cloudpickle

    err = exceptions.ObjectLostError("ab12", "owner-address", "call site")
    assert (err.object_ref_hex, err.owner_address, err.call_site) == ("ab12", "owner-address", "call site")
    assert isinstance(exceptions.ObjectFreedError("ab12"), exceptions.ObjectLostError)
    assert raycompat.cloudpickle.dumps is cloudpickle.dumps
