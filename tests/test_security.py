"""Security: loopback-only by default; `raycompat start --tls` gives a mutually authenticated cluster."""

from __future__ import annotations

import os
import stat

import psutil
import pytest

from _clusters import SEED_S08, address_of, env_for, raycompat, run_python


def test_embedded_cluster_and_dashboard_listen_on_loopback_only(ray, ray_session):
    from raycompat import _session

    pids = {os.getpid(), *_session.current().cluster.worker_pids()}
    listening = [c.laddr for c in psutil.net_connections(kind="inet") if c.status == "LISTEN" and c.pid in pids]
    assert len(listening) >= 3  # scheduler, dashboard, workers
    assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening
    assert ray_session.dashboard_url.startswith("http://127.0.0.1:")


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("tls") / "state"
    env = env_for(state)
    start = raycompat(["start", "--head", "--tls", "--port", "0", "--num-cpus", "1", "--include-dashboard", "false"], env)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        yield {"state": state, "env": env, "entry": address_of(state), "out": start.stdout + start.stderr}
    finally:
        raycompat(["stop"], env)


def test_tls_cluster_writes_private_certificates_and_the_address_file_names_them(tls_cluster):
    entry = tls_cluster["entry"]
    assert entry["address"].startswith("tls://127.0.0.1:")
    tls_dir = os.path.dirname(entry["tls"]["cert"])
    assert stat.S_IMODE(os.stat(tls_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(entry["tls"]["key"]).st_mode) == 0o600
    assert "WARNING" not in tls_cluster["out"]


def test_address_auto_connects_to_a_tls_cluster(tls_cluster):
    proc = raycompat([str(SEED_S08)], tls_cluster["env"])
    assert proc.returncode == 0, proc.stderr
    assert "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]" in proc.stdout


def test_tls_cluster_refuses_a_plain_tcp_client(tls_cluster):
    plain = tls_cluster["entry"]["address"].replace("tls://", "tcp://")
    proc = run_python(
        f"""
        import raycompat as ray
        try:
            ray.init(address={plain!r})
        except ConnectionError as exc:
            print("refused:", exc)
        else:
            print("connected")
        """,
        tls_cluster["env"],
    )
    assert "refused: Could not connect to a cluster at" in proc.stdout, proc.stdout + proc.stderr
    assert "requires TLS" in proc.stdout, proc.stdout + proc.stderr  # says why, and how to connect


def test_start_warns_when_reachable_from_other_machines_without_tls(tmp_path):
    env = env_for(tmp_path / "state")
    start = raycompat(
        ["start", "--head", "--host", "0.0.0.0", "--port", "0", "--num-cpus", "0", "--include-dashboard", "false"], env
    )
    try:
        assert start.returncode == 0, start.stderr
        assert "WARNING: this node listens on 0.0.0.0 without TLS" in start.stderr
        assert "--tls" in start.stderr
    finally:
        raycompat(["stop"], env)
