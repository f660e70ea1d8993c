"""Scheduling strategies and placement groups, mapped to Dask worker restrictions."""

from __future__ import annotations

import pickle

import pytest

from raycompat.util.placement_group import (
    PlacementGroup,
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)
from raycompat.util.scheduling_strategies import (
    NodeAffinitySchedulingStrategy,
    NodeLabelSchedulingStrategy,
    PlacementGroupSchedulingStrategy,
)


@pytest.fixture(scope="module")
def where(ray_session):
    import raycompat as ray

    @ray.remote
    def where():
        return ray.get_runtime_context().get_node_id()

    return where


def test_default_and_spread_are_accepted(ray, where):
    node = ray.nodes()[0]["NodeID"]
    assert ray.get(where.options(scheduling_strategy="SPREAD").remote()) == node
    assert ray.get(where.options(scheduling_strategy="DEFAULT").remote()) == node


def test_unknown_strategies_are_refused(ray, where):
    with pytest.raises(ValueError, match="Invalid scheduling_strategy 'RANDOM'"):
        where.options(scheduling_strategy="RANDOM")
    with pytest.raises(ValueError, match="NodeLabelSchedulingStrategy is not supported"):
        where.options(scheduling_strategy=NodeLabelSchedulingStrategy({"zone": "a"}))


def test_node_affinity_runs_the_task_on_that_node(ray, where):
    node = ray.get_runtime_context().get_node_id()
    hard = NodeAffinitySchedulingStrategy(node_id=node, soft=False)

    assert ray.get(where.options(scheduling_strategy=hard).remote()) == node


def test_node_affinity_to_a_missing_node(ray, where):
    missing = "ab" * 28
    soft = NodeAffinitySchedulingStrategy(node_id=missing, soft=True)
    assert ray.get(where.options(scheduling_strategy=soft).remote()) == ray.nodes()[0]["NodeID"]

    hard = NodeAffinitySchedulingStrategy(node_id=missing, soft=False)
    with pytest.raises(ray.exceptions.TaskUnschedulableError, match="does not exist"):
        where.options(scheduling_strategy=hard).remote()


def test_node_affinity_checks_the_node_id():
    with pytest.raises(ValueError, match="Invalid node_id 'nope'"):
        NodeAffinitySchedulingStrategy(node_id="nope", soft=False)


def test_tasks_and_actors_run_in_a_placement_group(ray, where):
    pg = placement_group([{"CPU": 1}], strategy="PACK", name="test-sched-pg")
    assert ray.get(pg.ready(), timeout=60) == pg
    assert pg.wait(10)
    assert pg.bundle_specs == [{"CPU": 1.0}] and pg.bundle_count == 1
    assert get_placement_group("test-sched-pg") == pg
    assert placement_group_table(pg)["state"] == "CREATED"

    strategy = PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0)
    assert ray.get(where.options(scheduling_strategy=strategy).remote()) == ray.nodes()[0]["NodeID"]
    assert ray.get(where.options(placement_group=pg).remote()) == ray.nodes()[0]["NodeID"]

    @ray.remote
    class Box:
        def value(self):
            return 7

    box = Box.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg)).remote()
    assert ray.get(box.value.remote()) == 7

    copy = pickle.loads(pickle.dumps(pg))
    assert copy == pg and copy.id == pg.id
    remove_placement_group(pg)
    assert placement_group_table(pg)["state"] == "REMOVED"
    with pytest.raises(ValueError, match="Failed to look up placement group with name: test-sched-pg"):
        get_placement_group("test-sched-pg")


def test_a_group_the_cluster_cannot_hold_stays_pending(ray, where):
    pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")  # one node only

    assert not pg.wait(0.5)
    ready, _ = ray.wait([pg.ready()], timeout=0.5)
    assert not ready
    assert placement_group_table(pg)["state"] == "PENDING"
    remove_placement_group(pg)


def test_a_task_submitted_before_the_group_is_reserved_waits_for_it(ray, where):
    pg = placement_group([{"special": 1}])
    ref = where.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg)).remote()

    assert ray.get(ref, timeout=60) == ray.nodes()[0]["NodeID"]
    assert pg.wait(0)
    remove_placement_group(pg)


def test_reserved_bundles_are_not_given_twice(ray):
    first = placement_group([{"special": 1}])
    assert first.wait(30)
    second = placement_group([{"special": 1}])
    assert not second.wait(0.5)  # the only 'special' is reserved by the first group
    remove_placement_group(first)
    assert second.wait(30)
    remove_placement_group(second)


def test_placement_group_arguments_are_checked(ray, where):
    with pytest.raises(ValueError, match="Invalid placement group strategy BOGUS"):
        placement_group([{"CPU": 1}], strategy="BOGUS")
    with pytest.raises(ValueError, match="Got empty list instead"):
        placement_group([])
    with pytest.raises(ValueError, match="Bundles cannot be an empty dictionary"):
        placement_group([{}])
    with pytest.raises(ValueError, match="must be a list"):
        placement_group({"CPU": 1})
    with pytest.raises(ValueError, match="lifetime"):
        placement_group([{"CPU": 1}], lifetime="forever")
    with pytest.raises(NotImplementedError, match="not supported by raycompat"):
        placement_group([{"CPU": 1}], bundle_label_selector=[{"a": "b"}])
    with pytest.raises(ValueError, match="bundle index 3 is invalid"):
        where.options(scheduling_strategy=PlacementGroupSchedulingStrategy(PlacementGroup("x", [{"CPU": 1}]), 3))
    with pytest.raises(ValueError, match="Please supply a non-empty value to get_placement_group"):
        get_placement_group("")


# -- queueing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_input", [False, True], ids=["no-input", "small-input"])
def test_short_tasks_run_on_the_free_worker_while_a_long_task_runs(ray, make_event, with_input):
    """Ray gives a task only to a worker with a free CPU; Dask would queue some on the busy one."""
    import distributed

    started, release = make_event(), make_event()

    @ray.remote
    def long_task(started, release):
        distributed.Event(started).set()
        distributed.Event(release).wait(60)
        return "long"

    @ray.remote
    def short_task(x):  # a new function: a small group, which Dask sends straight to a worker
        return x

    long_ref = long_task.remote(started.name, release.name)
    assert started.wait(30)
    value = bytes(200_000) if with_input else 0  # 200 kB: stored in the cluster, not inlined
    arg = ray.put(value) if with_input else value
    shorts = [short_task.remote(arg) for _ in range(4)]

    assert ray.get(shorts, timeout=30) == [value] * 4
    assert ray.wait([long_ref], timeout=0)[0] == []  # the long task is still running
    release.set()
    assert ray.get(long_ref, timeout=30) == "long"
