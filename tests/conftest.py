"""Shared fixtures: one embedded cluster for the whole run, and a ``ray`` fixture per test.

Starting a cluster is the slow part, so tests share one (real worker processes, so every test
also proves pickling). Tests about init/shutdown, the CLI and the alias run in a fresh
interpreter through ``run_python``, so nothing they do leaks into the shared session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import distributed
import pytest
from _clusters import DaskProcesses, env_for, free_port

import raycompat

SUBPROCESS_TIMEOUT = 90


@pytest.fixture(scope="session")
def ray_session():
    """The shared embedded cluster: 2 CPU slots, a custom resource, a dashboard."""
    raycompat.install_as_ray()
    ctx = raycompat.init(num_cpus=2, resources={"special": 1}, include_dashboard=True)
    yield ctx
    raycompat.shutdown()


LOAD_SCRIPT = Path(__file__).with_name("load_20000_tasks.py")
LOAD_TEST = "test_20000_tiny_tasks_keep_the_driver_under_300_mb"


def start_load_script(cwd: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """Start tests/load_20000_tasks.py in a fresh interpreter; its output goes to files in ``cwd``."""
    with open(cwd / "out.txt", "w") as out, open(cwd / "err.txt", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "raycompat", str(LOAD_SCRIPT)],
            stdout=out,
            stderr=err,
            cwd=cwd,
            env=python_env(state_dir=cwd / "raycompat-state"),
        )
    return proc, cwd


@pytest.fixture(scope="session", autouse=True)
def load_run(request, tmp_path_factory):
    """The 20,000-task load script, started when the run begins if its test is selected.

    It takes most of a minute of CPU. Started first, in the background, it uses the time the
    other tests spend waiting (on child interpreters, browsers, timeouts); its test reads the
    report at the end. Its peak RSS is its own process's, so sharing the CPU cannot change it.
    """
    if not any(item.name.startswith(LOAD_TEST) for item in request.session.items):
        yield None
        return
    proc, cwd = start_load_script(tmp_path_factory.mktemp("load"))
    yield proc, cwd
    if proc.poll() is None:  # its test did not run to the end
        proc.kill()
    proc.wait()


@raycompat.remote
def _still_working(x):
    return x


@pytest.fixture
def ray(ray_session):
    """The raycompat module, initialized on the shared cluster.

    After the test, a plain task must still work: bad input must never break the session.
    """
    assert raycompat.is_initialized()
    yield raycompat
    assert raycompat.is_initialized(), "the test left the shared session shut down"
    assert raycompat.get(_still_working.remote("ok"), timeout=60) == "ok"


@pytest.fixture
def echo(ray):
    """A remote function that returns its argument."""

    @ray.remote
    def echo(x):
        return x

    return echo


@pytest.fixture(scope="session")
def dask_client(ray_session):
    """A plain Dask client on the shared cluster, for test signals (events) only."""
    client = distributed.Client(ray_session.address_info["address"], set_as_default=False)
    yield client
    client.close()


@pytest.fixture
def make_event(dask_client):
    """Return a factory of ``distributed.Event``s: tasks wait on or set them by name.

    Usage: ``ev = make_event()``; pass ``ev.name`` to a task, which calls
    ``distributed.Event(name).wait()`` or ``.set()``; the test calls ``ev.set()`` / ``ev.wait(30)``.
    """
    made = []

    def make() -> distributed.Event:
        event = distributed.Event(f"test-{uuid.uuid4().hex}", client=dask_client)
        made.append(event)
        return event

    yield make
    for event in made:  # never leave a task blocked on a test's event
        event.set()


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A plain `dask scheduler` and one `dask worker` (2 threads) on 127.0.0.1."""
    env = env_for(tmp_path_factory.mktemp("state"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = DaskProcesses()
    procs.start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], env)
    procs.start(["worker", address, "--host", "127.0.0.1", "--nthreads", "2", "--no-dashboard"], env)
    try:
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        procs.close()


def python_env(extra: dict[str, str] | None = None, state_dir: Path | None = None) -> dict[str, str]:
    """The environment for a child interpreter: ours, with no RAY_ADDRESS and a private
    RAYCOMPAT_STATE_DIR (so ``address="auto"`` finds no real cluster), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAYCOMPAT_STATE_DIR")}
    env["RAYCOMPAT_STATE_DIR"] = str(state_dir or Path(os.environ.get("TMPDIR", "/tmp")) / "raycompat-tests-none")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@pytest.fixture
def run_python(tmp_path):
    """Run a Python script in a fresh interpreter and return the CompletedProcess.

    ``run_python(source, *args, via="raycompat")`` writes ``source`` (dedented) to a file and
    runs ``python -m raycompat FILE ARGS``; ``via="python"`` runs ``python FILE ARGS`` and
    ``via="cli"`` runs ``raycompat run FILE ARGS``.
    """

    def run(
        source: str,
        *args: str,
        via: str = "raycompat",
        env: dict[str, str] | None = None,
        name: str = "script.py",
        timeout: float = SUBPROCESS_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        script = tmp_path / name
        script.write_text(textwrap.dedent(source))
        return run_file(script, *args, via=via, env=env, cwd=tmp_path, timeout=timeout)

    return run


def run_file(
    script: Path,
    *args: str,
    via: str = "raycompat",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = SUBPROCESS_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter (see ``run_python``)."""
    launcher = {
        "raycompat": [sys.executable, "-m", "raycompat"],
        "python": [sys.executable],
        "cli": [str(Path(sys.executable).with_name("raycompat")), "run"],
    }[via]
    return subprocess.run(
        [*launcher, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=python_env(env, state_dir=(cwd or script.parent) / "raycompat-state"),
        cwd=cwd or script.parent,
        stdin=subprocess.DEVNULL,
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """The exit code and output of a child process, for assertion messages."""
    return f"exit code {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
