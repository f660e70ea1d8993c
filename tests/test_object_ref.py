"""ObjectRef: identity, hashing, repr, pickling, awaiting, futures and refs inside values."""

from __future__ import annotations

import asyncio
import concurrent.futures
import pickle

import pytest


def test_object_ref_repr_and_hex_look_like_rays(ray, echo):
    ref = echo.remote(1)

    assert repr(ref) == str(ref) == f"ObjectRef({ref.hex()})"
    assert len(ref.hex()) == 56 and int(ref.hex(), 16) >= 0
    assert ref.binary() == bytes.fromhex(ref.hex()) and len(ref.binary()) == 28


def test_object_refs_are_hashable_and_compare_by_identity_of_the_object(ray, echo):
    ref, other = echo.remote(1), echo.remote(1)
    copy = pickle.loads(pickle.dumps(ref))

    assert ref == copy and hash(ref) == hash(copy)
    assert ref != other
    assert len({ref, copy, other}) == 2
    assert ref != 1 and bool(ref) is True
    assert ray.get(copy) == 1


def test_object_refs_have_no_order(ray, echo):
    ref = echo.remote(1)

    with pytest.raises(TypeError, match=r"'<' not supported between instances of 'ObjectRef' and 'ObjectRef'"):
        ref < ref  # noqa: B015


def test_top_level_ref_arguments_are_resolved_to_values(ray, echo):
    @ray.remote
    def add(x, y):
        return x + y

    assert ray.get(add.remote(echo.remote(1), y=ray.put(2))) == 3


def test_refs_nested_in_lists_and_dicts_reach_the_task_as_refs(ray, echo):
    @ray.remote
    def read(items, mapping):
        kinds = [type(i).__name__ for i in items] + [type(v).__name__ for v in mapping.values()]
        return kinds, ray.get(items) + ray.get(list(mapping.values()))

    kinds, values = ray.get(read.remote([echo.remote(1), ray.put(2)], {"k": echo.remote(3)}))

    assert kinds == ["ObjectRef"] * 3
    assert values == [1, 2, 3]


def test_task_may_return_a_ref_or_a_value_holding_refs(ray, echo):
    @ray.remote
    def make_refs():
        return echo.remote("inner"), {"stored": ray.put("put-in-task")}

    inner, holder = ray.get(make_refs.remote())

    assert isinstance(inner, ray.ObjectRef)
    assert ray.get(inner) == "inner"
    assert ray.get(holder["stored"]) == "put-in-task"


def test_ref_from_the_driver_can_be_passed_through_a_task_and_back(ray, echo):
    stored = ray.put({"data": 1})

    back = ray.get(echo.remote([stored]))[0]

    assert back == stored
    assert ray.get(back) == {"data": 1}


def test_awaiting_a_ref_gives_its_value(ray, echo):
    async def main():
        return await echo.remote(5), await ray.put(6)

    assert asyncio.run(main()) == (5, 6)


def test_awaiting_a_failed_ref_raises_the_task_error(ray):
    @ray.remote
    def fail():
        raise KeyError("missing")

    async def main():
        await fail.remote()

    with pytest.raises(KeyError, match=r"missing"):
        asyncio.run(main())


def test_future_is_a_concurrent_future_with_the_value_or_error(ray, echo):
    @ray.remote
    def fail():
        raise ValueError("bad value")

    good, bad = echo.remote(7).future(), fail.remote().future()

    assert isinstance(good, concurrent.futures.Future)
    assert good.result(timeout=60) == 7
    assert isinstance(bad.exception(timeout=60), ValueError)
    with pytest.raises(ray.exceptions.RayTaskError, match=r"bad value"):
        bad.result()
