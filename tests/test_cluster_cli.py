"""`raycompat start / stop / status`: real head and worker nodes on 127.0.0.1 (and 127.0.0.2)."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from _clusters import SEED_S08, address_of, env_for, last_json, pid_alive, raycompat, run_python


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    """A head node (2 CPUs, resource x) and a second node on 127.0.0.2 (1 CPU, resource y)."""
    state = tmp_path_factory.mktemp("cli") / "state"
    env = env_for(state)
    head = raycompat(
        ["start", "--head", "--port", "0", "--dashboard-port", "0", "--num-cpus", "2", "--resources", '{"x": 1}'],
        env,
    )
    try:
        assert head.returncode == 0, head.stdout + head.stderr
        address = address_of(state)["address"]
        join = raycompat(
            ["start", "--address", address, "--node-ip-address", "127.0.0.2", "--num-cpus", "1", "--resources", '{"y": 1}'],
            env,
        )
        assert join.returncode == 0, join.stdout + join.stderr
        yield {"state": state, "env": env, "address": address, "head_out": head.stdout, "join_out": join.stdout}
    finally:
        stop = raycompat(["stop"], env)
        assert stop.returncode == 0, stop.stderr


def test_start_head_prints_how_to_connect_and_writes_the_address_file(two_nodes):
    out = two_nodes["head_out"]
    bare = two_nodes["address"].split("://")[1]
    assert f"raycompat start --address='{bare}'" in out
    assert "ray.init(address='auto')" in out
    assert "Dashboard: http://127.0.0.1:" in out
    assert "raycompat stop" in out
    entry = address_of(two_nodes["state"])
    assert entry["address"].startswith("tcp://127.0.0.1:")
    assert oct(os.stat(two_nodes["state"]).st_mode & 0o777) == "0o700"


def test_seed_example_s08_runs_unchanged_against_raycompat_start(two_nodes):
    proc = raycompat([str(SEED_S08)], two_nodes["env"])  # python -m raycompat s08_address_auto.py
    assert proc.returncode == 0, proc.stderr
    assert "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]" in proc.stdout


def test_status_shows_nodes_resources_and_dashboard(two_nodes):
    proc = raycompat(["status"], two_nodes["env"])
    assert proc.returncode == 0, proc.stderr
    assert "Nodes (2):" in proc.stdout
    assert "127.0.0.1 (head)" in proc.stdout and "127.0.0.2" in proc.stdout
    assert " 0/3 CPU" in proc.stdout and " 0/1 x" in proc.stdout and " 0/1 y" in proc.stdout
    assert "Dashboard: http://127.0.0.1:" in proc.stdout


def test_tasks_land_on_the_node_that_has_their_resources(two_nodes):
    result = last_json(
        run_python(
            """
            import json, raycompat as ray
            ray.init(address="auto")

            @ray.remote
            def where():
                return ray.get_runtime_context().get_node_id()

            nodes = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
            on_x = ray.get([where.options(resources={"x": 1}).remote() for _ in range(3)])
            on_y = ray.get([where.options(resources={"y": 1}).remote() for _ in range(3)])
            print(json.dumps({"x": sorted({nodes[n] for n in on_x}), "y": sorted({nodes[n] for n in on_y}),
                              "total": ray.cluster_resources()}))
            ray.shutdown()
            """,
            two_nodes["env"],
        )
    )
    assert result["x"] == ["127.0.0.1"]
    assert result["y"] == ["127.0.0.2"]
    assert result["total"]["CPU"] == 3.0
    assert result["total"]["node:127.0.0.2"] == 1.0 and result["total"]["node:__internal_head__"] == 1.0


def test_start_refuses_a_port_that_is_taken(two_nodes, tmp_path):
    port = int(two_nodes["address"].rsplit(":", 1)[1])
    proc = raycompat(["start", "--head", "--port", str(port)], env_for(tmp_path / "other"))
    assert proc.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "--port" in proc.stderr


@pytest.mark.parametrize(
    "value, message",
    [
        ("{x: 1}", "is not valid JSON"),
        ("[1]", "is not a JSON object"),
        ('{"CPU": 2}', "Use --num-cpus instead"),
        ('{"disk": -1}', "non-negative number"),
    ],
)
def test_start_explains_bad_resources(tmp_path, value, message):
    proc = raycompat(["start", "--head", "--resources", value], env_for(tmp_path / "state"))
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (tmp_path / "state" / "current_cluster.json").exists()


def test_status_and_join_without_a_cluster_say_what_to_do(tmp_path):
    env = env_for(tmp_path / "state")
    status = raycompat(["status"], env)
    assert status.returncode == 1
    assert "No cluster was started on this machine" in status.stderr
    assert "raycompat start --head" in status.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: nobody answers
        join = raycompat(["start", "--address", f"127.0.0.1:{port}"], env)
    assert join.returncode == 1
    assert f"No cluster answers at 127.0.0.1:{port}" in join.stderr


def test_every_command_has_help():
    from raycompat import _cluster_cli

    for command in ("start", "stop", "status"):
        text = _cluster_cli._parser(command).format_help()
        assert text.startswith(f"usage: raycompat {command}")
    proc = raycompat(["start", "--help"], env_for("/nonexistent"))
    assert proc.returncode == 0 and "--num-gpus" in proc.stdout and "--tls" in proc.stdout


def test_stop_stops_exactly_what_start_started(tmp_path):
    env = env_for(tmp_path / "state")
    start = raycompat(["start", "--head", "--port", "0", "--num-cpus", "1", "--include-dashboard", "false"], env)
    assert start.returncode == 0, start.stderr
    nodes_dir = tmp_path / "state" / "nodes"
    (record_file,) = nodes_dir.glob("node-*.json")
    record = json.loads(record_file.read_text())
    pids = [record["pid"], *record["worker_pids"]]
    assert all(pid_alive(p) for p in pids)
    stop = raycompat(["stop"], env)
    assert "Stopped 1 raycompat node(s)" in stop.stdout
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(pid_alive(p) for p in pids)
    assert not (tmp_path / "state" / "current_cluster.json").exists()
    assert "nothing to stop" in raycompat(["stop"], env).stdout


def test_the_head_node_runs_the_embedded_schedulers_settings(two_nodes):
    result = last_json(
        run_python(
            """
            import json
            import distributed

            def read(dask_scheduler):
                import dask
                return {
                    "allowed_failures": dask_scheduler.allowed_failures,
                    "stealing": "stealing" in dask_scheduler.extensions,
                    "memory_manager": dask.config.get("distributed.scheduler.active-memory-manager.start"),
                }

            with distributed.Client(json.load(open("%s/current_cluster.json"))["address"]) as client:
                print(json.dumps(client.run_on_scheduler(read)))
            """
            % two_nodes["state"],
            two_nodes["env"],
        )
    )
    assert result == {"allowed_failures": 100, "stealing": False, "memory_manager": False}
