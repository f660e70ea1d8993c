"""init / shutdown / is_initialized, each in a fresh interpreter so nothing leaks into the
shared session. Scripts print what they check; the test compares the printed lines."""

from __future__ import annotations

import distributed
import pytest
from _clusters import free_port
from conftest import describe


def lines(proc):
    assert proc.returncode == 0, describe(proc)
    return proc.stdout.splitlines()


def test_init_starts_worker_processes_on_localhost_and_returns_a_context(run_python):
    proc = run_python(
        """
        import os
        import distributed
        import raycompat as ray  # plain python: no alias needed

        assert not ray.is_initialized()
        ctx = ray.init(num_cpus=2)
        assert ray.is_initialized()
        assert ctx.address_info["address"].startswith("tcp://127.0.0.1:"), ctx.address_info
        assert ctx.address_info["node_ip_address"] == "127.0.0.1"
        assert ctx.dashboard_url.startswith("http://127.0.0.1:"), ctx.dashboard_url

        client = distributed.Client(ctx.address_info["address"], set_as_default=False)
        first, second = distributed.Event("a", client=client), distributed.Event("b", client=client)

        @ray.remote
        def meet(mine, other):
            distributed.Event(mine).set()
            assert distributed.Event(other).wait(60)
            return os.getpid()

        pids = ray.get([meet.remote("a", "b"), meet.remote("b", "a")], timeout=60)
        print("parallel in two processes:", len(set(pids)) == 2 and os.getpid() not in pids)
        client.close()
        ray.shutdown()
        print("after shutdown:", ray.is_initialized())
        print("workers gone:", all(not os.path.exists(f"/proc/{p}") for p in pids))
        ray.shutdown()
        print("second shutdown is quiet")
        """,
        via="python",
    )

    assert lines(proc) == [
        "parallel in two processes: True",
        "after shutdown: False",
        "workers gone: True",
        "second shutdown is quiet",
    ]


def test_init_twice_raises_runtime_error_unless_ignore_reinit_error(run_python):
    proc = run_python(
        """
        import ray

        ctx = ray.init(num_cpus=1, include_dashboard=False)
        try:
            ray.init(num_cpus=1)
        except RuntimeError as exc:
            print(exc)
        again = ray.init(ignore_reinit_error=True)
        print("same cluster:", again.address_info["address"] == ctx.address_info["address"])
        ray.shutdown()
        """,
    )

    assert lines(proc) == [
        "Maybe you called ray.init twice by accident? This error can be suppressed by passing in "
        "'ignore_reinit_error=True' or by calling 'ray.shutdown()' prior to 'ray.init()'.",
        "same cluster: True",
    ]


def test_init_is_a_context_manager_that_shuts_down(run_python):
    proc = run_python(
        """
        import ray

        with ray.init(num_cpus=1, include_dashboard=False) as ctx:
            print("inside:", ray.is_initialized(), ctx.dashboard_url == "")

            @ray.remote
            def one():
                return 1

            print("task:", ray.get(one.remote()))
        print("after:", ray.is_initialized())
        """,
    )

    assert lines(proc) == ["inside: True True", "task: 1", "after: False"]


def test_init_options_reach_the_cluster_and_the_tasks(run_python):
    proc = run_python(
        """
        import os
        import ray

        ray.init(
            num_cpus=2,
            num_gpus=1,
            resources={"disk": 2},
            namespace="team",
            log_to_driver=True,
            include_dashboard=False,
            runtime_env={"env_vars": {"MY_SETTING": "from-init"}},
        )

        @ray.remote(num_gpus=1)
        def gpu_task():
            return "gpu"

        @ray.remote(resources={"disk": 1})
        def disk_task():
            return os.environ.get("MY_SETTING")

        @ray.remote
        def env_task():
            return os.environ.get("MY_SETTING")

        print(ray.get(gpu_task.remote(), timeout=60))
        print(ray.get(disk_task.remote(), timeout=60))
        print(sorted(set(ray.get([env_task.remote() for _ in range(4)]))))
        print(ray.get_runtime_context().namespace)
        resources = ray.cluster_resources()
        print(resources["CPU"], resources["GPU"], resources["disk"])
        ray.shutdown()
        """,
    )

    assert lines(proc) == ["gpu", "from-init", "['from-init']", "team", "2.0 1.0 2.0"]


def test_init_chooses_another_port_when_its_first_choice_is_taken_meanwhile(run_python):
    # Workers start before the scheduler, on a port chosen first; another process can take
    # that port in between. Here the first choice is a port that is already listening.
    proc = run_python(
        """
        import socket
        import raycompat._dask.process.commands as commands

        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        choose = commands.free_port
        choices = []

        def first_the_taken_one(avoid=None):
            choices.append(avoid)
            return taken.getsockname()[1] if len(choices) == 1 else choose(avoid)

        commands.free_port = first_the_taken_one
        import ray

        ray.init(num_cpus=2)

        @ray.remote
        def inc(x):
            return x + 1

        print(ray.get([inc.remote(i) for i in range(4)]), len(choices))
        """,
    )
    assert lines(proc) == ["[1, 2, 3, 4] 2"]


def test_dashboard_port_serves_the_dashboard_on_localhost(run_python):
    port = free_port()
    proc = run_python(
        f"""
        import urllib.request
        import ray

        ctx = ray.init(num_cpus=1, include_dashboard=True, dashboard_port={port})
        print(ctx.dashboard_url.startswith("http://127.0.0.1:{port}/"))
        # Asked at once: the page waits for the dashboard, which loads after init() returns.
        with urllib.request.urlopen(ctx.dashboard_url, timeout=30) as response:
            print(response.status, response.geturl() == ctx.dashboard_url, b"bokeh" in response.read())
        ray.shutdown()
        """,
    )

    assert lines(proc) == ["True", "200 True True"]


@pytest.mark.parametrize("ending", ["returns"])
def test_a_script_that_ends_with_tasks_in_flight_prints_only_its_own_output(run_python, ending):
    proc = run_python(
        f"""
        import ray

        @ray.remote
        def noop():
            return None

        ray.init(num_cpus=2)
        refs = [noop.remote() for _ in range(500)]  # never waited for
        print("end")
        {"raise SystemExit(3)" if ending == "raises" else ""}
        """,
    )

    assert proc.returncode == (3 if ending == "raises" else 0), describe(proc)
    assert proc.stdout.splitlines() == ["end"]
    assert proc.stderr == "", proc.stderr[-2000:]


@pytest.mark.parametrize("first_call", ["remote", "put"])
def test_first_call_without_init_starts_a_cluster(run_python, first_call):
    proc = run_python(
        f"""
        import ray

        @ray.remote
        def double(x):
            return 2 * x

        print(ray.is_initialized())
        ref = double.remote(21) if {first_call!r} == "remote" else ray.put(42)
        print(ray.is_initialized(), ray.get(ref))
        ray.shutdown()
        """,
    )

    assert lines(proc) == ["False", "True 42"]


def test_address_auto_without_a_cluster_raises_connection_error_saying_how_to_start_one(run_python):
    proc = run_python(
        """
        import ray

        try:
            ray.init(address="auto")
        except ConnectionError as exc:
            print(type(exc).__name__, exc)
        print(ray.is_initialized())
        """,
    )

    out = lines(proc)
    assert out[0].startswith("ConnectionError Could not find any running Ray instance.")
    assert "raycompat start --head" in out[0] and "RAY_ADDRESS" in out[0]
    assert out[1] == "False"


def test_address_of_a_port_with_no_scheduler_raises_connection_error(run_python):
    port = free_port()
    proc = run_python(
        f"""
        import ray

        try:
            ray.init(address="tcp://127.0.0.1:{port}")
        except ConnectionError as exc:
            print(exc)
        """,
    )

    out = lines(proc)
    assert out[0].startswith(f"Could not connect to a cluster at 'tcp://127.0.0.1:{port}'")
    assert "raycompat start --head" in out[0]


def _external_script(address_arg: str) -> str:
    return f"""
        import ray

        ctx = ray.init(address={address_arg})
        print(ctx.address_info["address"])

        @ray.remote
        def inside():
            import ray as inner
            import ray.exceptions
            return inner.__name__, ray.exceptions.__name__

        print(ray.get(inside.remote(), timeout=60))
        ray.shutdown()
        print("disconnected")
        """


def test_init_with_a_tcp_address_joins_a_dask_scheduler(run_python, dask_cluster):
    proc = run_python(_external_script(repr(dask_cluster)))

    assert lines(proc) == [dask_cluster, "('raycompat', 'raycompat.exceptions')", "disconnected"]


def test_address_auto_uses_ray_address_and_shutdown_leaves_the_cluster_running(run_python, dask_cluster):
    proc = run_python(_external_script('"auto"'), env={"RAY_ADDRESS": dask_cluster})

    assert lines(proc) == [dask_cluster, "('raycompat', 'raycompat.exceptions')", "disconnected"]
    with distributed.Client(dask_cluster, timeout=10, set_as_default=False) as client:
        assert len(client.scheduler_info()["workers"]) == 1


def test_connecting_to_an_existing_cluster_rejects_num_cpus(run_python, dask_cluster):
    proc = run_python(
        f"""
        import ray

        try:
            ray.init(address={dask_cluster!r}, num_cpus=2)
        except ValueError as exc:
            print(exc)
        """,
    )

    assert lines(proc)[0].startswith(
        "When connecting to an existing cluster, num_cpus, num_gpus and resources must not be provided."
    )


def test_shutdown_gives_back_the_processs_own_dask_config(run_python):
    proc = run_python(
        """
        import dask
        import raycompat as ray

        keys = ["distributed.scheduler.work-stealing", "distributed.scheduler.allowed-failures",
                "distributed.admin.low-level-log-length"]
        dask.config.set({"distributed.scheduler.allowed-failures": 7})
        before = [dask.config.get(k) for k in keys]
        ray.init(num_cpus=1, include_dashboard=False)
        print("changed while running:", [dask.config.get(k) for k in keys] != before)
        ray.shutdown()
        print("restored:", [dask.config.get(k) for k in keys] == before)
        """,
        via="python",
    )
    assert lines(proc) == ["changed while running: True", "restored: True"]
