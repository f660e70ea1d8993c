"""Helpers for the tests that start real cluster processes (`raycompat start`, `dask scheduler`).

Every process is started with a private RAYCOMPAT_STATE_DIR, so no test touches the address
file of a real user, and is stopped by the fixture that started it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEED_S08 = REPO / "examples" / "s08_address_auto.py"  # the tutorial's script, copied unchanged


def env_for(state_dir: Path | str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAYCOMPAT_STATE_DIR")}
    env["RAYCOMPAT_STATE_DIR"] = str(state_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def raycompat(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the `raycompat` command line (as `python -m raycompat`)."""
    return subprocess.run(
        [sys.executable, "-m", "raycompat", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a driver script in a fresh interpreter (the test process holds its own session)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout
    )


def last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def address_of(state_dir: Path | str) -> dict[str, Any]:
    with open(Path(state_dir) / "current_cluster.json") as f:
        return dict(json.load(f))


class DaskProcesses:
    """`dask scheduler` and `dask worker` processes, stopped (and their children) on close()."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_for_workers(address: str, n: int, env: dict[str, str], timeout: float = 30) -> None:
    proc = run_python(
        f"""
        from distributed import Client
        with Client({address!r}, timeout=20) as c:
            c.wait_for_workers({n}, timeout={timeout})
        """,
        env,
        timeout=timeout + 30,
    )
    assert proc.returncode == 0, proc.stderr


def wait_until_port_open(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
