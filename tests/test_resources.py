"""Resources limit concurrency as in Ray; cluster_resources, nodes, runtime context, GPU ids.

The concurrency tests run on a plain Dask cluster (`dask scheduler` + `dask worker` processes)
laid out as docs/cluster.md says: one worker process per node, ``--nthreads N --resources
"CPU=N,..."``. Quick checks use the shared embedded cluster of conftest.py.
"""

from __future__ import annotations

import pytest

import raycompat
from _clusters import SEED_S08, DaskProcesses, env_for, free_port, last_json, raycompat as raycompat_cli, run_python, wait_for_workers


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """`dask scheduler` and one `dask worker` with 4 CPUs and 1 GPU, on 127.0.0.1."""
    env = env_for(tmp_path_factory.mktemp("dask") / "state", DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING="False")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = DaskProcesses()
    try:
        procs.start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], env)
        procs.start(
            ["worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "4",
             "--resources", "CPU=4,GPU=1", "--no-dashboard"],
            env,
        )
        wait_for_workers(address, 1, env)
        yield {"address": address, "env": {**env, "RAY_ADDRESS": address}}
    finally:
        procs.close()


CONCURRENCY = """
import json, time, raycompat as ray
ray.init(address="auto")

@ray.remote(num_cpus={num_cpus}, num_gpus={num_gpus})
def hold():
    start = time.time()
    time.sleep(0.8)
    return start, time.time(), ray.get_gpu_ids(), ray.get_runtime_context().get_assigned_resources()

refs = [hold.remote() for _ in range({n})]
time.sleep(0.4)
available = ray.available_resources()
spans = ray.get(refs)
most = max(sum(1 for s, e, *_ in spans if s <= t < e) for t, _, *_ in spans)
print(json.dumps({{"most": most, "available": available, "gpus": [g for *_, g, _ in spans],
                  "assigned": spans[0][3], "total": ray.cluster_resources()}}))
ray.shutdown()
"""


def test_num_cpus_2_tasks_run_two_at_a_time_on_a_4_cpu_node(dask_cluster):
    out = last_json(run_python(CONCURRENCY.format(num_cpus=2, num_gpus=0, n=4), dask_cluster["env"]))
    assert out["most"] == 2
    assert out["total"]["CPU"] == 4.0 and out["total"]["GPU"] == 1.0
    assert "CPU" not in out["available"]  # all four in use: Ray leaves out what is used up
    assert out["assigned"] == {"CPU": 2.0}


def test_fractional_gpus_share_one_gpu(dask_cluster):
    out = last_json(run_python(CONCURRENCY.format(num_cpus=1, num_gpus=0.5, n=2), dask_cluster["env"]))
    assert out["most"] == 2
    assert out["gpus"] == [[0], [0]]
    assert out["assigned"] == {"CPU": 1.0, "GPU": 0.5}
    assert "GPU" not in out["available"]


def test_task_for_a_missing_resource_pends_with_a_warning_and_can_be_cancelled(dask_cluster):
    env = {**dask_cluster["env"], "RAYCOMPAT_PENDING_WARNING_SECONDS": "0.5"}
    out = last_json(
        run_python(
            """
            import json, raycompat as ray
            ray.init(address="auto")

            @ray.remote(resources={"TPU": 1})
            def needs_tpu():
                return 1

            ref = needs_tpu.remote()
            try:
                ray.get(ref, timeout=2)
                timed_out = False
            except ray.exceptions.GetTimeoutError:
                timed_out = True
            ray.cancel(ref)
            try:
                ray.get(ref, timeout=10)
                cancelled = False
            except ray.exceptions.TaskCancelledError:
                cancelled = True
            print(json.dumps({"timed_out": timed_out, "cancelled": cancelled}))
            ray.shutdown()
            """,
            env,
        )
    )
    assert out == {"timed_out": True, "cancelled": True}


def test_pending_warning_names_the_resource_and_how_to_add_it(dask_cluster):
    env = {**dask_cluster["env"], "RAYCOMPAT_PENDING_WARNING_SECONDS": "0.5"}
    proc = run_python(
        """
        import raycompat as ray
        ray.init(address="auto")
        ref = ray.remote(num_gpus=2)(lambda: 1).options(name="big_gpu").remote()
        ray.wait([ref], timeout=2)
        ray.shutdown()
        """,
        env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Task 'big_gpu' is pending: it needs GPU=2 (the most any worker has is 1)" in proc.stderr
    assert "--num-gpus 2" in proc.stderr and '--resources "GPU=2"' in proc.stderr


def test_seed_example_s08_runs_unchanged_with_ray_address(dask_cluster):
    proc = raycompat_cli([str(SEED_S08)], dask_cluster["env"])
    assert proc.returncode == 0, proc.stderr
    assert "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]" in proc.stdout


# -- on the shared embedded cluster ------------------------------------------------------------


def test_cluster_resources_and_nodes_on_the_embedded_cluster(ray):
    total = ray.cluster_resources()
    assert total["CPU"] == 2.0 and total["special"] == 1.0
    assert total["node:127.0.0.1"] == 1.0 and total["node:__internal_head__"] == 1.0
    assert all(isinstance(v, float) for v in total.values())
    (node,) = ray.nodes()
    assert node["Alive"] and node["IsHeadNode"] and node["NodeManagerAddress"] == "127.0.0.1"
    assert len(node["NodeID"]) == 56 and node["Resources"] == total
    assert ray.available_resources()["CPU"] == 2.0


def test_runtime_context_in_a_task(ray):
    @ray.remote
    def inner():
        ctx = ray.get_runtime_context()
        return {
            "job": ctx.get_job_id(),
            "node": ctx.get_node_id(),
            "task": ctx.get_task_id(),
            "actor": ctx.get_actor_id(),
            "name": ctx.get_task_name(),
            "resources": ctx.get_assigned_resources(),
            "namespace": ctx.namespace,
            "gpus": ray.get_gpu_ids(),
        }

    got = ray.get(inner.remote())
    driver = ray.get_runtime_context()
    assert got["job"] == driver.get_job_id() and len(got["job"]) == 8
    assert got["node"] == driver.get_node_id() == ray.nodes()[0]["NodeID"]
    assert len(got["task"]) == 48 and got["actor"] is None
    assert got["name"] == "inner" and got["resources"] == {"CPU": 1.0}
    assert got["namespace"] == driver.namespace and got["gpus"] == []
    assert ray.get(inner.options(name="custom").remote())["name"] == "custom"


def test_runtime_context_in_the_driver(ray):
    ctx = ray.get_runtime_context()
    assert ctx.get_task_id() is None and ctx.get_actor_id() is None
    assert ray.get_gpu_ids() == []
    assert set(ctx.get()) == {"job_id", "node_id", "namespace"}
    with pytest.raises(AssertionError, match="only available when the process is a worker"):
        ctx.get_assigned_resources()
    assert raycompat.runtime_context.RuntimeContext is type(ctx)
